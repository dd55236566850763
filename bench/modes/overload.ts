import { ScoreRequest } from '../../gen/customer_intelligence/scoring/v1/scoring.js';
import { scrapeMetrics, type Scrape } from '../../test/helpers/metrics-scrape.js';
import { SAMPLE_FEATURES } from '../../test/helpers/sample-features.js';
import { h2load } from '../perf/h2load.js';
import { startServer, stop, write } from '../perf/harness.js';
import { withCpu } from '../perf/process-stats.js';
import { SCORE_PATH } from '../perf/scenarios.js';

/** Customers per call, as test/reliability/overload.test.ts: the server, not the transport, is the bottleneck. */
const CUSTOMERS_PER_CALL = 32;
const DEADLINE_MS = 1_000;
const CAPACITY_CONCURRENCY = 100;
const CAPACITY_RUN_S = 6;
const OVERLOAD_RUN_S = 8;

const message = ScoreRequest.encode({
  model: 'churn',
  modelVersion: '',
  customers: Array.from({ length: CUSTOMERS_PER_CALL }, () => ({
    customerId: '',
    features: { ...SAMPLE_FEATURES },
  })),
  reasonCodes: 0,
}).finish();

const scoreCalls = (scrape: Scrape, code?: string) =>
  scrape.sum(code === undefined ? 'grpc_server_started_total' : 'grpc_server_handled_total', {
    grpc_method: 'Score',
    ...(code === undefined ? {} : { grpc_code: code }),
  });

/**
 * `npm run bench -- --overload`: twice the capacity, measured fairly (issue 16 item 5). The server runs on
 * CPU 0 and h2load on CPU 1, so offering more load does not take CPU from the server as ghz did on this
 * machine. Capacity is the OK rate with 100 calls in flight; then h2load offers twice that at a fixed rate with a
 * 1 s deadline (`grpc-timeout`). Reported: goodput (OK answers per second, against the capacity), what was shed
 * (RESOURCE_EXHAUSTED), what ran out of time, and calls whose inference started after their deadline.
 */
export async function overload(databaseUrl: string): Promise<void> {
  const { server, address, metricsPort } = await startServer(databaseUrl, {}, { cpus: '0' });
  const pid = server.child.pid!;
  const run = { address, path: SCORE_PATH, message, cpus: '1', deadlineMs: DEADLINE_MS };
  try {
    await h2load({ ...run, concurrency: CAPACITY_CONCURRENCY, total: 2_000 }); // warm-up
    const warm = await h2load({ ...run, concurrency: CAPACITY_CONCURRENCY, total: 2_000 });
    const capacityBefore = await scrapeMetrics(metricsPort);
    const capacityStarted = performance.now();
    const { cores: capacityCores } = await withCpu(pid, () =>
      h2load({ ...run, concurrency: CAPACITY_CONCURRENCY, total: Math.round(warm.rps * CAPACITY_RUN_S) }),
    );
    const capacitySeconds = (performance.now() - capacityStarted) / 1000;
    const capacity =
      (scoreCalls(await scrapeMetrics(metricsPort), 'OK') - scoreCalls(capacityBefore, 'OK')) /
      capacitySeconds;

    const offered = Math.round(2 * capacity);
    const before = await scrapeMetrics(metricsPort);
    const started = performance.now();
    const { result, cores } = await withCpu(pid, () =>
      h2load({
        ...run,
        concurrency: 4,
        // Enough streams that the rate holds even if every call waits out its deadline.
        streamsPerConnection: Math.ceil((offered * DEADLINE_MS) / 1000 / 4) + CAPACITY_CONCURRENCY,
        rps: offered,
        total: offered * OVERLOAD_RUN_S,
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const after = await scrapeMetrics(metricsPort);
    const delta = (code?: string) => scoreCalls(after, code) - scoreCalls(before, code);
    const executedAfterDeadline =
      after.sum('ci_requests_executed_after_deadline_total') -
      before.sum('ci_requests_executed_after_deadline_total');
    const codes = Object.fromEntries(
      ['OK', 'RESOURCE_EXHAUSTED', 'UNAVAILABLE', 'DEADLINE_EXCEEDED', 'CANCELLED', 'INTERNAL', 'UNKNOWN']
        .map((code) => [code, delta(code)] as const)
        .filter(([, count]) => count !== 0),
    );
    const goodput = delta('OK') / seconds;
    const results = {
      date: new Date().toISOString(),
      customersPerCall: CUSTOMERS_PER_CALL,
      deadlineMs: DEADLINE_MS,
      capacity: Math.round(capacity),
      capacityServerCores: capacityCores,
      offered,
      offeredAchieved: Math.round(result.rps),
      sent: result.count,
      reachedServer: delta(),
      codes,
      goodput: Math.round(goodput),
      goodputShare: goodput / capacity,
      executedAfterDeadline,
      overloadServerCores: cores,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      answeredInTime: result.answeredInTime,
    };
    const markdown = `# Overload at twice capacity (${results.date})

Server on CPU 0, h2load on CPU 1 (\`taskset\`); Score calls of ${CUSTOMERS_PER_CALL} inline customers with a ${DEADLINE_MS} ms deadline.

| figure | value |
| --- | --- |
| capacity (OK/s, ${CAPACITY_CONCURRENCY} in flight) | ${results.capacity} (server ${capacityCores.toFixed(2)} cores) |
| offered (fixed rate) | ${offered}/s (h2load achieved ${results.offeredAchieved}/s, ${results.sent} calls) |
| goodput (OK/s) | **${results.goodput}** = **${(results.goodputShare * 100).toFixed(1)} %** of capacity |
| server answers | ${Object.entries(codes)
      .map(([code, n]) => `${code} ${n}`)
      .join(', ')} |
| inference started after the deadline | ${executedAfterDeadline} |
| client-side latency of every answer (OK or refused) | p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms |
| answers that reached the client within the deadline (OK or refused) | ${result.answeredInTime} of ${result.count} |

The server's clock starts when it reads a call: a call that waited in the socket behind a saturated core can be
answered OK in time by that clock and still reach the client late (h2load does not cancel at the deadline, and it
cannot tell an OK from a refusal, so the last row bounds rather than counts the client-side goodput).
`;
    await write('overload', results, markdown);
  } finally {
    await stop(server);
  }
}

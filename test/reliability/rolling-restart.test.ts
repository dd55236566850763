import { randomBytes } from 'node:crypto';
import { ClientError, Status } from 'nice-grpc';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createScoringClient } from '../../client/src/scoring-client.js';
import { createHealthClient, ServingStatus } from '../helpers/health-client.js';
import { scrapeMetrics } from '../helpers/metrics-scrape.js';
import { spawnServer, type ServerProcess } from '../helpers/server-process.js';
import { steadyLoad } from '../helpers/steady-load.js';
import { cloneDatabase, dropDatabase } from '../helpers/test-postgres.js';
import { SAMPLE_FEATURES } from '../helpers/sample-features.js';

/**
 * A rolling restart as a client sees it: two server processes behind one round-robin client with the
 * production retry policy, steady load, and one of them stopped with SIGTERM mid-run. No call may fail,
 * the stopping server must say NOT_SERVING before it stops taking connections, and it must exit within
 * its shutdown grace.
 */
const SHUTDOWN_GRACE_MS = 5_000;
const SHUTDOWN_DRAIN_DELAY_MS = 1_000;
const RATE_PER_SECOND = 300;
const LOAD_MS = 10_000;
const SIGTERM_AT_MS = 3_000;

const database = `test_roll_${randomBytes(4).toString('hex')}`;
let databaseUrl: string;
const servers: ServerProcess[] = [];

async function startServer(): Promise<{ process: ServerProcess; address: string; metricsPort: number }> {
  const server = spawnServer({
    DATABASE_URL: databaseUrl,
    GRPC_HOST: '127.0.0.1',
    GRPC_PORT: '0',
    SHUTDOWN_GRACE_MS: String(SHUTDOWN_GRACE_MS),
    SHUTDOWN_DRAIN_DELAY_MS: String(SHUTDOWN_DRAIN_DELAY_MS),
  });
  servers.push(server);
  const opened = await server.waitForLog('gRPC port open; starting');
  await server.waitForLog('serving');
  return {
    process: server,
    address: `127.0.0.1:${String(opened.port)}`,
    metricsPort: Number(opened.metricsPort),
  };
}

beforeAll(async () => {
  databaseUrl = await cloneDatabase(inject('postgresUrl'), inject('templateDatabase'), database);
});
afterAll(async () => {
  for (const server of servers) {
    if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGTERM');
    await server.exited;
  }
  await dropDatabase(inject('postgresUrl'), database);
});

/** What health Check answered, polled back to back: a status, or the code of the failed call. */
type Observation = { atMs: number; answer: string };

/**
 * Polls `address`'s overall health back to back (times relative to `since()`) until a call fails after
 * NOT_SERVING was seen, or `stop` aborts. `connected` resolves at the first answer.
 */
function pollHealth(address: string, since: () => number, stop: AbortSignal) {
  let onConnected: () => void = () => undefined;
  const connected = new Promise<void>((resolve) => (onConnected = resolve));
  return { connected, observations: poll(address, since, stop, onConnected) };
}

async function poll(
  address: string,
  since: () => number,
  stop: AbortSignal,
  onConnected: () => void,
): Promise<Observation[]> {
  const health = createHealthClient(address);
  const seen: Observation[] = [];
  try {
    while (!stop.aborted) {
      let answer: string;
      try {
        const { status } = await health.check({ service: '' }, { signal: AbortSignal.timeout(1_000) });
        answer = ServingStatus[status];
      } catch (error) {
        answer = error instanceof ClientError ? Status[error.code] : String(error);
      }
      seen.push({ atMs: Math.round(performance.now() - since()), answer });
      if (seen.length === 1) onConnected();
      if (answer !== 'SERVING' && answer !== 'NOT_SERVING' && seen.some((o) => o.answer === 'NOT_SERVING'))
        break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    health.close();
  }
  return seen;
}

/** Consecutive duplicates removed: the transitions. */
const transitions = (seen: readonly Observation[]) =>
  seen.filter((o, i) => i === 0 || seen[i - 1]!.answer !== o.answer);

describe('rolling restart under load', () => {
  it('loses no call when one of two servers is stopped with SIGTERM', async () => {
    const [a, b] = await Promise.all([startServer(), startServer()]);
    const client = createScoringClient(`ipv4:${a.address},${b.address}`, {
      deadlineMs: 2_000,
      retry: {
        maxAttempts: 4,
        initialBackoffMs: 50,
        maxBackoffMs: 500,
        backoffMultiplier: 2,
        retryableStatusCodes: ['UNAVAILABLE'],
      },
    });

    const loadStarted = performance.now();
    const load = steadyLoad(
      () =>
        client.score({
          model: 'churn',
          modelVersion: '',
          customers: [{ customerId: '', features: SAMPLE_FEATURES }],
          reasonCodes: 0,
        }),
      RATE_PER_SECOND,
      LOAD_MS,
    );

    await new Promise((resolve) => setTimeout(resolve, SIGTERM_AT_MS));
    const servedByA = (await scrapeMetrics(a.metricsPort)).sum('grpc_server_handled_total', {
      grpc_method: 'Score',
      grpc_code: 'OK',
    });
    const stopPolling = new AbortController();
    let sigtermAt = Number.NaN;
    const polling = pollHealth(a.address, () => sigtermAt, stopPolling.signal);
    await polling.connected;
    sigtermAt = performance.now();
    a.process.child.kill('SIGTERM');
    const exitCode = await a.process.exited;
    const exitedAfterMs = Math.round(performance.now() - sigtermAt);
    const result = await load;
    const loadMs = Math.round(performance.now() - loadStarted);
    stopPolling.abort();
    const health = (await polling.observations).filter((o) => o.atMs >= 0);
    const servedByB = (await scrapeMetrics(b.metricsPort)).sum('grpc_server_handled_total', {
      grpc_method: 'Score',
      grpc_code: 'OK',
    });
    client.close();

    process.stdout.write(
      `rolling restart: ${result.sent} calls at ${RATE_PER_SECOND}/s over ${loadMs} ms, ${result.failed} failed ` +
        `${JSON.stringify(result.failures)}, p99 ${result.p99Ms.toFixed(1)} ms; A served ${servedByA} before ` +
        `SIGTERM, B ${servedByB} in all; A exited ${String(exitCode)} after ${exitedAfterMs} ms ` +
        `(grace ${SHUTDOWN_GRACE_MS} ms); A's health after SIGTERM: ` +
        transitions(health)
          .map((o) => `${o.answer}@${o.atMs}ms`)
          .join(' → ') +
        '\n',
    );

    expect(servedByA).toBeGreaterThan(0); // both servers took traffic before the restart
    expect(result.failures).toEqual({});
    expect(result.sent).toBeGreaterThan(0);
    // SERVING (perhaps), then NOT_SERVING while it still answers, then refused once its port closed.
    const answers = transitions(health).map((o) => o.answer);
    expect(answers.filter((answer) => answer !== 'SERVING')).toEqual(['NOT_SERVING', 'UNAVAILABLE']);
    expect(exitCode).toBe(0);
    expect(exitedAfterMs).toBeLessThan(SHUTDOWN_GRACE_MS);
    expect(a.process.logs.some((line) => line.msg === 'shutdown grace expired; cancelling calls')).toBe(
      false,
    );
  });
});

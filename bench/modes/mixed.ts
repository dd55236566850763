import { ghz } from '../../test/helpers/ghz.js';
import { measure, startServer, stop, table, write, type Row } from '../perf/harness.js';
import {
  byIdRequest,
  CHUNK,
  inlineRequest,
  SCORE,
  SCORING,
  STREAM,
  streamRequest,
} from '../perf/scenarios.js';

/** Online load in this mode: a steady rate, as services call the server, not as fast as possible. */
const ONLINE = { rps: 300, duration: '15s' };

export async function mixed(databaseUrl: string): Promise<void> {
  const { server, address } = await startServer(databaseUrl);
  const pid = server.child.pid!;
  const online = [
    { name: 'Score inline', run: { address, call: SCORE, proto: SCORING, data: inlineRequest } },
    { name: 'Score by id', run: { address, call: SCORE, proto: SCORING, data: byIdRequest } },
  ];
  const quiet: Row[] = [];
  for (const { name, run } of online) {
    quiet.push(await measure('server', pid, `${name} at ${ONLINE.rps}/s, alone`, run, 16, ONLINE));
  }
  // A full-speed batch stream (2 streams, 10×100 customers by id per call) while the same online loads run.
  const batch = ghz({
    address,
    call: STREAM,
    proto: SCORING,
    data: streamRequest,
    concurrency: 2,
    duration: '37s',
  });
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const busy: Row[] = [];
  for (const { name, run } of online) {
    busy.push(
      await measure('server', pid, `${name} at ${ONLINE.rps}/s, batch stream running`, run, 16, ONLINE),
    );
  }
  const batchResult = await batch;
  await stop(server);
  const change = (i: number) => busy[i]!.result.p99Ms / quiet[i]!.result.p99Ms - 1;
  const results = {
    date: new Date().toISOString(),
    quiet: quiet.map((row) => row.result),
    withBatch: busy.map((row) => row.result),
    batchCustomersPerSecond: Math.round(batchResult.rps * 10 * CHUNK),
    p99Change: { inline: change(0), byId: change(1) },
  };
  const percent = (value: number) => `${(value * 100).toFixed(1)} %`;
  const markdown = `# Online latency while a batch stream runs (${results.date})

${table([quiet[0]!, busy[0]!, quiet[1]!, busy[1]!])}

Batch meanwhile: ${results.batchCustomersPerSecond} customers/s. Online p99 change: inline **${percent(results.p99Change.inline)}**, by id **${percent(results.p99Change.byId)}**.
`;
  await write('mixed', results, markdown);
}

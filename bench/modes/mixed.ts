import { ghz } from '../../test/helpers/ghz.js';
import { measure, startServer, stop, table, write } from '../perf/harness.js';
import { CHUNK, inlineRequest, SCORE, SCORING, STREAM, streamRequest } from '../perf/scenarios.js';

export async function mixed(databaseUrl: string): Promise<void> {
  const { server, address } = await startServer(databaseUrl);
  const pid = server.child.pid!;
  const online = { address, call: SCORE, proto: SCORING, data: inlineRequest };
  const quiet = await measure('server', pid, 'Score inline at 300/s, alone', online, 16, {
    rps: 300,
    duration: '15s',
  });
  // A full-speed batch stream (2 streams, 10×100 customers per call) while the same online load runs.
  const batch = ghz({
    address,
    call: STREAM,
    proto: SCORING,
    data: streamRequest,
    concurrency: 2,
    duration: '17s',
  });
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const busy = await measure('server', pid, 'Score inline at 300/s, batch stream running', online, 16, {
    rps: 300,
    duration: '15s',
  });
  const batchResult = await batch;
  await stop(server);
  const results = {
    date: new Date().toISOString(),
    quiet: quiet.result,
    withBatch: busy.result,
    batchCustomersPerSecond: Math.round(batchResult.rps * 10 * CHUNK),
    p99Change: busy.result.p99Ms / quiet.result.p99Ms - 1,
  };
  const markdown = `# Online latency while a batch stream runs (${results.date})

${table([quiet, busy])}

Batch meanwhile: ${results.batchCustomersPerSecond} customers/s. Online p99 change: **${(results.p99Change * 100).toFixed(1)} %**.
`;
  await write('mixed', results, markdown);
}

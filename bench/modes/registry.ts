import { createModelAdminClient } from '../../client/src/model-admin-client.js';
import { trainVariant } from '../../test/helpers/model-variants.js';
import { measure, startServer, stop, table, write } from '../perf/harness.js';
import { inlineRequest, SCORE, SCORING } from '../perf/scenarios.js';

export async function registry(databaseUrl: string): Promise<void> {
  const { server, address } = await startServer(databaseUrl);
  const admin = createModelAdminClient(address);
  const variant = await trainVariant('churn', '2', 4242);
  await admin.registerModelVersion({
    model: 'churn',
    version: '2',
    onnx: variant.onnx,
    manifestJson: variant.manifestJson,
    setDefault: false,
  });
  const online = { address, call: SCORE, proto: SCORING, data: inlineRequest };
  const quiet = await measure('server', server.child.pid!, 'Score inline at 300/s, no swaps', online, 16, {
    rps: 300,
    duration: '15s',
  });
  const swaps: Array<{ action: string; ms: number }> = [];
  const load = measure(
    'server',
    server.child.pid!,
    'Score inline at 300/s, promote/rollback every 1.5 s',
    online,
    16,
    { rps: 300, duration: '15s' },
  );
  await new Promise((resolve) => setTimeout(resolve, 2_500)); // after the warm-up
  for (let i = 0; i < 8; i++) {
    const started = performance.now();
    if (i % 2 === 0) await admin.setDefaultVersion({ model: 'churn', version: '2' });
    else await admin.rollbackModel({ model: 'churn' });
    swaps.push({ action: i % 2 === 0 ? 'promote' : 'rollback', ms: performance.now() - started });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
  }
  const busy = await load;
  admin.close();
  await stop(server);
  const average = (action: string) => {
    const times = swaps.filter((s) => s.action === action).map((s) => s.ms);
    return times.reduce((a, b) => a + b, 0) / times.length;
  };
  const results = {
    date: new Date().toISOString(),
    quiet: quiet.result,
    swapping: busy.result,
    swaps,
    promoteMs: average('promote'),
    rollbackMs: average('rollback'),
  };
  await write(
    'registry',
    results,
    `# Model swaps under load (${results.date})\n\n${table([quiet, busy])}\n\nPromote call (load + warm + switch, new version already loaded after the first): ${results.promoteMs.toFixed(1)} ms on average; rollback call (pointer flip): ${results.rollbackMs.toFixed(1)} ms.\n`,
  );
}

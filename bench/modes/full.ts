import os from 'node:os';
import { startBaselineServer } from '../perf/baseline-servers.js';
import { duration, measure, startServer, stop, table, write, type Row } from '../perf/harness.js';
import { onnxLoop } from '../perf/onnx-loop.js';
import { peakRssMb } from '../perf/process-stats.js';
import {
  byIdRequest,
  CHUNK,
  customers,
  INFER,
  inlineRequest,
  inferRequest,
  SCORE,
  SCORING,
  STREAM,
  streamRequest,
  V2,
} from '../perf/scenarios.js';

/** The default mode: the server against the echo and raw baselines and the ONNX loop (see bench/run.ts). */
export async function full(databaseUrl: string): Promise<void> {
  const rows: Row[] = [];
  const { server, address, coldStartMs } = await startServer(databaseUrl);
  const pid = server.child.pid!;
  const unary = [
    ['Score inline', { call: SCORE, proto: SCORING, data: inlineRequest }],
    ['Score by id', { call: SCORE, proto: SCORING, data: byIdRequest }],
    ['V2 ModelInfer', { call: INFER, proto: V2, data: inferRequest }],
  ] as const;
  for (const concurrency of [1, 50, 200]) {
    for (const [scenario, run] of unary) {
      rows.push(await measure('server', pid, scenario, { address, ...run }, concurrency));
    }
  }
  const stream = await measure(
    'server',
    pid,
    `ScoreStream (10×${CHUNK} by id per call)`,
    { address, call: STREAM, proto: SCORING, data: streamRequest },
    4,
  );
  rows.push(stream);
  const serverPeakRss = await peakRssMb(pid);
  await stop(server);

  for (const [name, scenario] of [
    ['echo-server', 'Score (decode+encode)'],
    ['raw-server', 'Score (no decode)'],
  ] as const) {
    const baseline = await startBaselineServer(name);
    for (const concurrency of [1, 50, 200]) {
      rows.push(
        await measure(
          name.replace('-server', ''),
          baseline.pid,
          scenario,
          { address: baseline.address, call: SCORE, proto: SCORING, data: inlineRequest },
          concurrency,
        ),
      );
    }
    await baseline.stop();
  }
  const compute = [await onnxLoop(1, 3), await onnxLoop(100, 3)];

  const find = (target: string, scenario: string, c: number) =>
    rows.find((r) => r.target === target && r.scenario.startsWith(scenario) && r.concurrency === c)!;
  const ratios = [1, 50, 200].map((c) => ({
    concurrency: c,
    inlineOverEcho: find('server', 'Score inline', c).result.rps / find('echo', 'Score', c).result.rps,
    byIdOverEcho: find('server', 'Score by id', c).result.rps / find('echo', 'Score', c).result.rps,
    echoOverRaw: find('echo', 'Score', c).result.rps / find('raw', 'Score', c).result.rps,
  }));
  const results = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version },
    duration,
    customers,
    coldStartMs: Math.round(coldStartMs),
    serverPeakRssMb: Math.round(serverPeakRss),
    streamCustomersPerSecond: Math.round(stream.result.rps * 10 * CHUNK),
    onnxLoop: compute,
    ratios,
    rows,
  };
  const markdown = `# Performance ${results.date}

Machine: ${results.machine.cpus} × ${results.machine.cpuModel}, Node ${results.machine.node}; server, Postgres and ghz share it.
Real server: release build (\`node dist/server/src/main.js\`), ${customers} seeded customers; ghz ${duration} per run after a 2 s warm-up.

- Cold start (spawn → health SERVING): **${results.coldStartMs} ms**; server peak RSS: **${results.serverPeakRssMb} MB**
- ScoreStream batch: **${results.streamCustomersPerSecond} customers/s** (4 concurrent streams)
- In-process ONNX loop (compute ceiling): ${compute.map((c) => `${c.rowsPerRun} row(s): ${Math.round(c.runsPerSecond)} runs/s (${c.microsPerRun.toFixed(1)} µs/run)`).join('; ')}

${table(rows)}

| concurrency | Score inline / echo | Score by id / echo | echo / raw |
| --- | --- | --- | --- |
${ratios.map((r) => `| ${r.concurrency} | ${r.inlineOverEcho.toFixed(2)} | ${r.byIdOverEcho.toFixed(2)} | ${r.echoOverRaw.toFixed(2)} |`).join('\n')}
`;
  await write('perf', results, markdown);
}

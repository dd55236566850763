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

export async function full(databaseUrl: string): Promise<void> {
  const rows: Row[] = [];
  const { server, address, coldStartMs } = await startServer(databaseUrl);
  const pid = server.child.pid!;
  for (const concurrency of [1, 50, 200]) {
    rows.push(
      await measure(
        'server',
        pid,
        'Score inline',
        { address, call: SCORE, proto: SCORING, data: inlineRequest },
        concurrency,
      ),
    );
    rows.push(
      await measure(
        'server',
        pid,
        'Score by id',
        { address, call: SCORE, proto: SCORING, data: byIdRequest },
        concurrency,
      ),
    );
    rows.push(
      await measure(
        'server',
        pid,
        'V2 ModelInfer',
        { address, call: INFER, proto: V2, data: inferRequest },
        concurrency,
      ),
    );
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

import os from 'node:os';
import { startBaselineServer } from '../perf/baseline-servers.js';
import {
  duration,
  measure,
  measureH2load,
  measurePerfAnalyzer,
  pinned,
  startServer,
  stop,
  table,
  write,
  type PerfAnalyzerRow,
  type Row,
} from '../perf/harness.js';
import { onnxLoop } from '../perf/onnx-loop.js';
import { peakRssMb } from '../perf/process-stats.js';
import {
  byIdMessage,
  byIdRequest,
  CHUNK,
  customers,
  INFER,
  inferRows,
  inlineMessage,
  inlineRequest,
  inferRequest,
  SCORE,
  SCORE_PATH,
  SCORING,
  STREAM,
  streamRequest,
  V2,
} from '../perf/scenarios.js';

const CONCURRENCY = [1, 50, 200] as const;

/**
 * The default mode: the server against the echo and raw baselines and the ONNX loop (see bench/run.ts),
 * each with ghz (what users reproduce) and h2load (the light load generator the targets are judged on).
 */
export async function full(databaseUrl: string): Promise<void> {
  const rows: Row[] = [];
  const perfAnalyzerRows: PerfAnalyzerRow[] = [];
  const { server, address, metricsPort, coldStartMs } = await startServer(databaseUrl);
  const pid = server.child.pid!;
  const unary = [
    ['Score inline', { call: SCORE, proto: SCORING, data: inlineRequest }],
    ['Score by id', { call: SCORE, proto: SCORING, data: byIdRequest }],
    ['V2 ModelInfer', { call: INFER, proto: V2, data: inferRequest }],
  ] as const;
  const light = [
    ['Score inline', inlineMessage],
    ['Score by id', byIdMessage],
  ] as const;
  for (const concurrency of CONCURRENCY) {
    for (const [scenario, run] of unary) {
      rows.push(await measure('server', pid, scenario, { address, ...run }, concurrency));
    }
    for (const [scenario, message] of light) {
      rows.push(
        await measureH2load(
          'server',
          pid,
          scenario,
          { address, path: SCORE_PATH, message, metricsPort },
          concurrency,
        ),
      );
    }
    const perfAnalyzerRow = await measurePerfAnalyzer(
      'server',
      pid,
      'V2 ModelInfer',
      { address, model: 'churn', rows: inferRows, metricsPort },
      concurrency,
    );
    rows.push(perfAnalyzerRow);
    perfAnalyzerRows.push(perfAnalyzerRow);
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
    const target = name.replace('-server', '');
    for (const concurrency of CONCURRENCY) {
      const run = { address: baseline.address, call: SCORE, proto: SCORING, data: inlineRequest };
      rows.push(await measure(target, baseline.pid, scenario, run, concurrency));
      const light = { address: baseline.address, path: SCORE_PATH, message: inlineMessage };
      rows.push(await measureH2load(target, baseline.pid, scenario, light, concurrency));
    }
    await baseline.stop();
  }
  const compute = [await onnxLoop(1, 3), await onnxLoop(100, 3)];

  const find = (generator: Row['generator'], target: string, scenario: string, c: number) =>
    rows.find(
      (r) =>
        r.generator === generator &&
        r.target === target &&
        r.scenario.startsWith(scenario) &&
        r.concurrency === c,
    )!;
  const ratios = (['ghz', 'h2load'] as const).flatMap((generator) =>
    CONCURRENCY.map((c) => {
      const echo = find(generator, 'echo', 'Score', c);
      const inline = find(generator, 'server', 'Score inline', c);
      return {
        generator,
        concurrency: c,
        inlineOverEcho: inline.result.rps / echo.result.rps,
        byIdOverEcho: find(generator, 'server', 'Score by id', c).result.rps / echo.result.rps,
        echoOverRaw: echo.result.rps / find(generator, 'raw', 'Score', c).result.rps,
        inlineCpuOverEcho: inline.serverMicrosPerCall / echo.serverMicrosPerCall,
        inlineP50MinusEchoMs: inline.result.p50Ms - echo.result.p50Ms,
      };
    }),
  );
  const results = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version },
    pinned,
    duration,
    customers,
    coldStartMs: Math.round(coldStartMs),
    serverPeakRssMb: Math.round(serverPeakRss),
    streamCustomersPerSecond: Math.round(stream.result.rps * 10 * CHUNK),
    onnxLoop: compute,
    ratios,
    rows,
  };
  const placement = pinned
    ? 'server (and baselines) on CPU 0, the load generator on CPU 1 (`taskset`), Postgres unpinned'
    : 'server, Postgres and the load generator share both cores';
  const markdown = `# Performance ${results.date}${pinned ? ' (pinned)' : ''}

Machine: ${results.machine.cpus} × ${results.machine.cpuModel}, Node ${results.machine.node}; ${placement}.
Real server: release build (\`node dist/server/src/main.js\`), ${customers} seeded customers; each run ${duration} of calls after a 2 s warm-up.
Load generators: ghz (the figure users reproduce; about 0.8 ms of its own CPU per call) and h2load (pre-framed gRPC bodies,
a few µs per call; by id it sends one fixed customer). h2load cannot read \`grpc-status\`: its errors are the server's
failed calls (\`grpc_server_handled_total\`). perf_analyzer (Triton's compiled client, V2 ModelInfer only: it reads
ModelConfig first, sends raw tensors with \`--async\`, and measures three ${duration}/3 windows; errors as for h2load).
Server µs/call = the server process's CPU over the run / calls.

- Cold start (spawn → health SERVING): **${results.coldStartMs} ms**; server peak RSS: **${results.serverPeakRssMb} MB**
- ScoreStream batch: **${results.streamCustomersPerSecond} customers/s** (4 concurrent streams, ghz)
- perf_analyzer's server-side view of V2 ModelInfer (ModelStatistics; µs per request = queue + input + run + output):
  ${perfAnalyzerRows.map((r) => (r.serverSide ? `c=${r.concurrency}: ${r.serverSide.requestMicros} = ${r.serverSide.queueMicros} + ${r.serverSide.computeInputMicros} + ${r.serverSide.computeInferMicros} + ${r.serverSide.computeOutputMicros}` : `c=${r.concurrency}: none`)).join('; ')}
- In-process ONNX loop (compute ceiling): ${compute.map((c) => `${c.rowsPerRun} row(s): ${Math.round(c.runsPerSecond)} runs/s (${c.microsPerRun.toFixed(1)} µs/run)`).join('; ')}

${table(rows)}

| load | concurrency | Score inline / echo | Score by id / echo | echo / raw | inline CPU/call ÷ echo's | inline p50 − echo p50 (ms) |
| --- | --- | --- | --- | --- | --- | --- |
${ratios.map((r) => `| ${r.generator} | ${r.concurrency} | ${r.inlineOverEcho.toFixed(2)} | ${r.byIdOverEcho.toFixed(2)} | ${r.echoOverRaw.toFixed(2)} | ${r.inlineCpuOverEcho.toFixed(2)} | ${r.inlineP50MinusEchoMs.toFixed(3)} |`).join('\n')}
`;
  await write(pinned ? 'perf-pinned' : 'perf', results, markdown);
}

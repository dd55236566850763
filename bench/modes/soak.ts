import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../test/helpers/free-port.js';
import { ghz, type GhzResult, type GhzRun } from '../../test/helpers/ghz.js';
import { startServer, stop, write } from '../perf/harness.js';
import { rssMb } from '../perf/process-stats.js';
import {
  byIdRequest,
  CHUNK,
  INFER,
  inferRequest,
  inlineRequest,
  SCORE,
  SCORING,
  STREAM,
  streamRequest,
  V2,
} from '../perf/scenarios.js';

/** Soak length in seconds (`SOAK_SECONDS`); the first fifth is warm-up and is not judged. @default 300 */
const seconds = Number(process.env.SOAK_SECONDS ?? 300);
const SAMPLE_EVERY_MS = 5_000;

/** One memory sample of the server process. */
interface Sample {
  readonly atSeconds: number;
  readonly rssMb: number;
  readonly heapUsedMb: number;
}

/** Heap in use, read from the server's own `/metrics` (prom-client's default `nodejs_heap_size_used_bytes`). */
async function heapUsedMb(metricsPort: number): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text());
  return Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1] ?? NaN) / 2 ** 20;
}

/** Least-squares slope of `y` over `x`. */
function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n;
  const covariance = points.reduce((sum, [x, y]) => sum + (x - meanX) * (y - meanY), 0);
  const variance = points.reduce((sum, [x]) => sum + (x - meanX) ** 2, 0);
  return covariance / variance;
}

/**
 * `--soak`: a mixed load at fixed rates (below capacity, so what grows is a leak, not a queue) for
 * `SOAK_SECONDS` — inline Score, by-id Score, V2 ModelInfer and a ScoreStream batch at once — sampling
 * the server's RSS and heap every 5 s. Reports the growth after warm-up as a slope in MB/min.
 */
export async function soak(databaseUrl: string): Promise<void> {
  const metricsPort = await freePort();
  const { server, address } = await startServer(databaseUrl, { METRICS_PORT: String(metricsPort) });
  const pid = server.child.pid!;
  const streams: ReadonlyArray<{ name: string; run: Omit<GhzRun, 'address'> & { rps: number } }> = [
    {
      name: 'Score inline 200/s',
      run: { call: SCORE, proto: SCORING, data: inlineRequest, concurrency: 8, rps: 200 },
    },
    {
      name: 'Score by id 150/s',
      run: { call: SCORE, proto: SCORING, data: byIdRequest, concurrency: 8, rps: 150 },
    },
    {
      name: 'V2 ModelInfer 100/s',
      run: { call: INFER, proto: V2, data: inferRequest, concurrency: 4, rps: 100 },
    },
    {
      name: `ScoreStream 2 calls/s (10×${CHUNK} by id each)`,
      run: { call: STREAM, proto: SCORING, data: streamRequest, concurrency: 1, rps: 2 },
    },
  ];
  const load: Array<[string, Promise<GhzResult>]> = streams.map(({ name, run }) => [
    name,
    ghz({ ...run, address, total: run.rps * seconds }),
  ]);

  const samples: Sample[] = [];
  const started = performance.now();
  const running = Promise.allSettled(load.map(([, result]) => result));
  let done = false;
  void running.then(() => (done = true));
  while (!done) {
    samples.push({
      atSeconds: (performance.now() - started) / 1000,
      rssMb: await rssMb(pid),
      heapUsedMb: await heapUsedMb(metricsPort),
    });
    await Promise.race([sleep(SAMPLE_EVERY_MS), running]);
  }
  const results = await Promise.all(load.map(async ([name, result]) => ({ name, result: await result })));
  await stop(server);

  const judged = samples.filter((s) => s.atSeconds >= seconds / 5);
  const rssSlope = slope(judged.map((s) => [s.atSeconds / 60, s.rssMb] as const));
  const heapSlope = slope(judged.map((s) => [s.atSeconds / 60, s.heapUsedMb] as const));
  const range = (values: number[]) => [Math.min(...values), Math.max(...values)] as const;
  const [rssMin, rssMax] = range(judged.map((s) => s.rssMb));
  const [heapMin, heapMax] = range(judged.map((s) => s.heapUsedMb));
  const summary = {
    date: new Date().toISOString(),
    seconds,
    rssMbPerMinute: rssSlope,
    heapMbPerMinute: heapSlope,
    rssMb: { min: rssMin, max: rssMax },
    heapUsedMb: { min: heapMin, max: heapMax },
    load: results,
    samples,
  };
  const markdown = `# Soak: ${seconds} s of mixed load (${summary.date})

| load | calls | OK | errors | p50 ms | p99 ms |
| --- | --- | --- | --- | --- | --- |
${results.map(({ name, result: r }) => `| ${name} | ${r.count} | ${r.ok} | ${JSON.stringify(r.errors)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} |`).join('\n')}

After the ${Math.round(seconds / 5)} s warm-up (${judged.length} samples, every ${SAMPLE_EVERY_MS / 1000} s):
- RSS ${rssMin.toFixed(0)}–${rssMax.toFixed(0)} MB, slope **${rssSlope.toFixed(2)} MB/min**
- heap used ${heapMin.toFixed(0)}–${heapMax.toFixed(0)} MB, slope **${heapSlope.toFixed(2)} MB/min**

| s | RSS MB | heap MB |
| --- | --- | --- |
${samples.map((s) => `| ${s.atSeconds.toFixed(0)} | ${s.rssMb.toFixed(1)} | ${s.heapUsedMb.toFixed(1)} |`).join('\n')}
`;
  await write('soak', summary, markdown);
}

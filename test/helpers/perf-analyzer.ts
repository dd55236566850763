import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { toolPath } from './tools.js';

const run = promisify(execFile);

/** One perf_analyzer run against a V2 gRPC endpoint. */
export interface PerfAnalyzerRun {
  /** `host:port`, plaintext. */
  readonly address: string;
  readonly model: string;
  /** Concurrency levels, `[first, last]`, stepping by 1 (`--concurrency-range first:last`). */
  readonly concurrency: readonly [number, number];
  /** Rows sent, in turn, as the request's one input (FP32 `[1, columns]` each, batch size 1). */
  readonly rows: readonly (readonly number[])[];
  /** The model's input. @default "features" */
  readonly input?: string;
  /** Length of one measurement window, in ms (`-p`). @default 1000 */
  readonly measurementMs?: number;
  /**
   * How far three consecutive windows may differ to count as stable, in % (`-s`). Wide in tests, where the
   * point is that the run completes, not that the figure is precise. @default 10 (perf_analyzer's)
   */
  readonly stabilityPercent?: number;
  /** Windows tried per level before perf_analyzer gives up on stability (`--max-trials`). @default 10 */
  readonly maxTrials?: number;
  /**
   * Asynchronous calls (`--async`): a few threads keep `concurrency` calls in flight; otherwise one thread
   * per call in flight, each waiting for its answer (perf_analyzer's default). @default false
   */
  readonly async?: boolean;
  /** Run perf_analyzer on these CPUs only (`taskset --cpu-list`); unset = wherever the kernel puts it. */
  readonly cpus?: string;
}

/** What perf_analyzer measured at one concurrency level (latencies in ms, client side). */
export interface PerfAnalyzerLevel {
  readonly concurrency: number;
  /** Completed inferences per second (= calls per second at batch size 1). */
  readonly inferencesPerSecond: number;
  /** Requests completed in the measured (stable) windows. */
  readonly requests: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly averageMs: number;
  /**
   * The server's own account of the same requests (ModelStatistics, which perf_analyzer reads before and
   * after each window), average µs per request: all of it, and the queue, input, run and output parts.
   * Undefined when the server reports no statistics.
   */
  readonly server:
    | {
        readonly requestMicros: number;
        readonly queueMicros: number;
        readonly computeInputMicros: number;
        readonly computeInferMicros: number;
        readonly computeOutputMicros: number;
      }
    | undefined;
}

/** A finished run: one entry per concurrency level, and perf_analyzer's own text report. */
export interface PerfAnalyzerResult {
  readonly levels: readonly PerfAnalyzerLevel[];
  readonly stdout: string;
}

/**
 * Runs the pinned perf_analyzer (`scripts/tools.sh perf_analyzer`: Triton's compiled load generator) over
 * gRPC, with `rows` as its input data, and parses its CSV report. perf_analyzer first asks the server for
 * the model's metadata and configuration (ModelMetadata, ModelConfig), then sends ModelInfer calls, raw
 * tensors, one request in flight per concurrency slot.
 *
 * @throws when perf_analyzer exits non-zero: it does on any failed request, on an answer it cannot decode,
 *   on a server it cannot reach and when no three windows agree within `stabilityPercent` in `maxTrials`
 *   (the error carries its output).
 */
export async function perfAnalyzer(options: PerfAnalyzerRun): Promise<PerfAnalyzerResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ci-perf-analyzer-'));
  try {
    const input = options.input ?? 'features';
    const data = path.join(dir, 'input.json');
    await writeFile(data, inputData(input, options.rows));
    const csv = path.join(dir, 'report.csv');
    const args = [
      '-i',
      'grpc',
      '-u',
      options.address,
      '-m',
      options.model,
      '--concurrency-range',
      `${options.concurrency[0]}:${options.concurrency[1]}`,
      '--input-data',
      data,
      '--measurement-interval',
      String(options.measurementMs ?? 1000),
      '--stability-percentage',
      String(options.stabilityPercent ?? 10),
      '--max-trials',
      String(options.maxTrials ?? 10),
      ...(options.async ? ['--async'] : []),
      '-f',
      csv,
    ];
    const [command, commandArgs] =
      options.cpus === undefined
        ? [toolPath('perf_analyzer'), args]
        : ['taskset', ['--cpu-list', options.cpus, toolPath('perf_analyzer'), ...args]];
    const { stdout } = await run(command, commandArgs, { maxBuffer: 16 * 1024 * 1024 });
    return { levels: parseReport(await readFile(csv, 'utf8'), stdout), stdout };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * perf_analyzer's `--input-data` JSON: one entry per request, the input's values flattened. Every value is
 * written with a decimal point: perf_analyzer reads an FP32 tensor only from JSON numbers that look like
 * floats, and refuses `20` ("unable to find float data in json").
 */
function inputData(input: string, rows: readonly (readonly number[])[]): string {
  const float = (value: number) => (Number.isInteger(value) ? value.toFixed(1) : String(value));
  const entries = rows.map((row) => `{${JSON.stringify(input)}:[${row.map(float).join(',')}]}`);
  return `{"data":[${entries.join(',')}]}`;
}

/**
 * perf_analyzer's `-f` CSV (a header row, then one row per concurrency level; latencies in µs), with the
 * request count and average latency of each level from its text report, which the CSV leaves out.
 */
function parseReport(csv: string, stdout: string): PerfAnalyzerLevel[] {
  const [header, ...rows] = csv
    .trim()
    .split('\n')
    .map((line) => line.split(','));
  const column = (name: string) => {
    const index = header?.indexOf(name) ?? -1;
    if (index < 0) throw new Error(`perf_analyzer report has no "${name}" column: ${header?.join(',')}`);
    return index;
  };
  const at = {
    concurrency: column('Concurrency'),
    rate: column('Inferences/Second'),
    p50: column('p50 latency'),
    p90: column('p90 latency'),
    p99: column('p99 latency'),
  };
  // "Request concurrency: 2" opens a level's block; its "Client:" part has the count and the average, its
  // "Server:" part (when the server reports statistics) the server's average and its parts.
  const summaries = new Map<number, Pick<PerfAnalyzerLevel, 'requests' | 'averageMs' | 'server'>>();
  for (const block of stdout.split(/^Request concurrency: /m).slice(1)) {
    const requests = /Request count: (\d+)/.exec(block)?.[1];
    const average = /Avg latency: (\d+) usec/.exec(block.slice(block.indexOf('Client:')))?.[1];
    if (requests === undefined || average === undefined) continue;
    const server =
      /Avg request latency: (\d+) usec \(overhead \d+ usec \+ queue (\d+) usec \+ compute input (\d+) usec \+ compute infer (\d+) usec \+ compute output (\d+) usec\)/.exec(
        block,
      );
    summaries.set(Number.parseInt(block, 10), {
      requests: Number(requests),
      averageMs: Number(average) / 1000,
      server:
        server === null
          ? undefined
          : {
              requestMicros: Number(server[1]),
              queueMicros: Number(server[2]),
              computeInputMicros: Number(server[3]),
              computeInferMicros: Number(server[4]),
              computeOutputMicros: Number(server[5]),
            },
    });
  }
  // The CSV lists the levels by throughput, lowest first; callers get them by concurrency.
  const levels = rows.map((row) => {
    const value = (index: number) => Number(row[index]);
    const concurrency = value(at.concurrency);
    const summary = summaries.get(concurrency);
    if (summary === undefined)
      throw new Error(`perf_analyzer printed no summary for concurrency ${concurrency}`);
    return {
      concurrency,
      inferencesPerSecond: value(at.rate),
      ...summary,
      p50Ms: value(at.p50) / 1000,
      p90Ms: value(at.p90) / 1000,
      p99Ms: value(at.p99) / 1000,
    };
  });
  return levels.sort((a, b) => a.concurrency - b.concurrency);
}

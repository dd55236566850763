import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { GhzResult } from '../../test/helpers/ghz.js';
import { childCpuSeconds } from './process-stats.js';

const run = promisify(execFile);

/**
 * One h2load run (Debian `nghttp2-client`): a C HTTP/2 load generator that sends one pre-framed gRPC
 * message body over and over. It costs a fraction of ghz's CPU per call, so on a 2-core machine it leaves the
 * server its core: the figure for ceilings and targets (ghz stays the figure users reproduce).
 * h2load sees HTTP statuses, not `grpc-status`: a gRPC error is a 200 to it, so callers count errors on the
 * server side (the server's `ci_requests_total`), and the baselines never fail.
 */
export interface H2loadRun {
  /** `host:port`, plaintext HTTP/2 (h2c with prior knowledge, as gRPC does). */
  readonly address: string;
  /** gRPC method path, e.g. `/customer_intelligence.scoring.v1.ScoringService/Score`. */
  readonly path: string;
  /** The encoded request message (the 5-byte gRPC frame header is added here). */
  readonly message: Uint8Array;
  /** Calls in flight at once: spread over min(concurrency, 4) connections. */
  readonly concurrency: number;
  /** Calls to send. */
  readonly total: number;
  /** A fixed offered rate (calls per second, over all connections); unset = as fast as possible. */
  readonly rps?: number;
  /** Run h2load on these CPUs only (`taskset --cpu-list`, e.g. `1`). */
  readonly cpus?: string;
  /** The calls' deadline, sent as `grpc-timeout`, in ms; unset = none. */
  readonly deadlineMs?: number;
  /** Streams in flight per connection; unset = concurrency spread over the connections. */
  readonly streamsPerConnection?: number;
}

/**
 * What h2load measured: the fields ghz reports too (latencies in ms, from its per-request log; `ok` counts
 * HTTP 200s, gRPC errors included: see {@link H2loadRun}), and its own CPU time.
 */
export interface H2loadResult extends Pick<GhzResult, 'count' | 'ok' | 'rps' | 'p50Ms' | 'p90Ms' | 'p99Ms'> {
  /** CPU seconds h2load itself used (user + system), for the load generator's cost per call. */
  readonly loadCpuSeconds: number;
  /** With {@link H2loadRun.deadlineMs}: answers that reached h2load within the deadline (OK or not). */
  readonly answeredInTime: number | undefined;
}

/** A message as gRPC frames it on the wire: uncompressed flag, 4-byte big-endian length, the bytes. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

const percentile = (sorted: readonly number[], p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** Runs h2load and reads its summary, per-request log and own CPU time. */
export async function h2load(options: H2loadRun): Promise<H2loadResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ci-h2load-'));
  try {
    const body = path.join(dir, 'body');
    const log = path.join(dir, 'requests.tsv');
    await writeFile(body, grpcFrame(options.message));
    const clients = Math.min(options.concurrency, 4);
    const args = [
      `http://${options.address}${options.path}`,
      '-n',
      String(Math.max(options.total, clients)),
      '-c',
      String(clients),
      '-m',
      String(options.streamsPerConnection ?? Math.ceil(options.concurrency / clients)),
      '-d',
      body,
      '-H',
      'content-type: application/grpc',
      '-H',
      'te: trailers',
      ...(options.deadlineMs === undefined ? [] : ['-H', `grpc-timeout: ${Math.round(options.deadlineMs)}m`]),
      `--log-file=${log}`,
      ...(options.rps ? ['--rps', String(Math.max(1, Math.round(options.rps / clients)))] : []),
    ];
    const [file, argv] = options.cpus
      ? ['taskset', ['--cpu-list', options.cpus, 'h2load', ...args]]
      : ['h2load', args];
    const cpuBefore = await childCpuSeconds();
    const { stdout } = await run(file, argv, { maxBuffer: 16 * 1024 * 1024 });
    const loadCpuSeconds = (await childCpuSeconds()) - cpuBefore;
    const finished = /finished in ([\d.]+)(m?s), ([\d.]+) req\/s/.exec(stdout);
    const done = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded/.exec(stdout);
    if (finished === null || done === null) throw new Error(`unexpected h2load output:\n${stdout}`);
    const durations = (await readFile(log, 'utf8'))
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => Number(line.split('\t')[2]) / 1000)
      .sort((a, b) => a - b);
    return {
      count: Number(done[2]),
      ok: Number(done[3]),
      rps: Number(finished[3]),
      p50Ms: percentile(durations, 50),
      p90Ms: percentile(durations, 90),
      p99Ms: percentile(durations, 99),
      loadCpuSeconds,
      answeredInTime:
        options.deadlineMs === undefined
          ? undefined
          : durations.filter((ms) => ms <= options.deadlineMs!).length,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { toolPath } from './tools.js';

const run = promisify(execFile);

/** One ghz run: what to call, how hard. */
export interface GhzRun {
  readonly address: string;
  /** Full method, e.g. `customer_intelligence.scoring.v1.ScoringService/Score`. */
  readonly call: string;
  /** Proto file and its import root. */
  readonly proto: string;
  /** Request message as JSON (ghz templates allowed); an array means a client/bidi stream of messages. */
  readonly data: unknown;
  readonly concurrency: number;
  /** Run for this long (`-z`), e.g. `10s`; or `total` calls. */
  readonly duration?: string;
  readonly total?: number;
  /** Cap the rate (calls per second), 0 = as fast as possible. */
  readonly rps?: number;
  readonly metadata?: Record<string, string>;
  /** Deadline of each call, e.g. `500ms`. @default "10s" */
  readonly timeout?: string;
  /** HTTP/2 connections the workers share. @default min(concurrency, 4) */
  readonly connections?: number;
  /** Run ghz on these CPUs only (`taskset --cpu-list`, e.g. `1`); unset = wherever the kernel puts it. */
  readonly cpus?: string;
  /** TLS: the CA file that verifies the server and the name its certificate carries. @default plaintext */
  readonly tls?: { readonly caFile: string; readonly serverName: string };
}

/** What ghz measured (latencies in ms). */
export interface GhzResult {
  readonly count: number;
  readonly ok: number;
  readonly errors: Record<string, number>;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly averageMs: number;
}

interface GhzReport {
  count: number;
  rps: number;
  average: number;
  latencyDistribution: Array<{ percentage: number; latency: number }> | null;
  statusCodeDistribution: Record<string, number> | null;
}

/** Runs the pinned ghz (Go: it does not compete with the server for a Node core) and parses its JSON report. */
export async function ghz(options: GhzRun): Promise<GhzResult> {
  const args = [
    ...(options.tls ? ['--cacert', options.tls.caFile, '--cname', options.tls.serverName] : ['--insecure']),
    '--proto',
    options.proto,
    '--import-paths',
    'proto',
    '--call',
    options.call,
    '--data',
    JSON.stringify(options.data),
    '--concurrency',
    String(options.concurrency),
    '--connections',
    String(options.connections ?? Math.min(options.concurrency, 4)),
    '--timeout',
    options.timeout ?? '10s',
    '--format',
    'json',
    ...(options.duration ? ['--duration', options.duration] : ['--total', String(options.total ?? 1_000)]),
    ...(options.rps ? ['--rps', String(options.rps)] : []),
    ...(options.metadata ? ['--metadata', JSON.stringify(options.metadata)] : []),
    options.address,
  ];
  const [command, commandArgs] =
    options.cpus === undefined
      ? [toolPath('ghz'), args]
      : ['taskset', ['--cpu-list', options.cpus, toolPath('ghz'), ...args]];
  const { stdout } = await run(command, commandArgs, { maxBuffer: 256 * 1024 * 1024 });
  const report = JSON.parse(stdout) as GhzReport;
  const ms = (p: number) =>
    (report.latencyDistribution?.find((entry) => entry.percentage === p)?.latency ?? NaN) / 1e6;
  const codes = report.statusCodeDistribution ?? {};
  return {
    count: report.count,
    ok: codes.OK ?? 0,
    errors: Object.fromEntries(Object.entries(codes).filter(([code]) => code !== 'OK')),
    rps: report.rps,
    p50Ms: ms(50),
    p90Ms: ms(90),
    p99Ms: ms(99),
    averageMs: report.average / 1e6,
  };
}

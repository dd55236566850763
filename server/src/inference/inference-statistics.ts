import type { InferBatchStatistics, ModelStatistics } from '../../../gen/inference/grpc_service.js';

/** Where one successful V2 request's time went, in ms (`performance.now()` differences). */
export interface RequestTimings {
  /** Arrival to answer. */
  readonly totalMs: number;
  /** Waiting for its turn to start. */
  readonly queueMs: number;
  /** Checking and decoding the input. */
  readonly inputMs: number;
  /** The model run. */
  readonly inferMs: number;
  /** Encoding the outputs. */
  readonly outputMs: number;
}

interface Duration {
  count: number;
  ns: number;
}

interface Compute {
  readonly input: Duration;
  readonly infer: Duration;
  readonly output: Duration;
}

interface VersionStatistics {
  lastInferenceMs: number;
  rows: number;
  runs: number;
  readonly success: Duration;
  readonly fail: Duration;
  readonly queue: Duration;
  readonly compute: Compute;
  readonly byBatchSize: Map<number, Compute>;
}

const duration = (): Duration => ({ count: 0, ns: 0 });
const compute = (): Compute => ({ input: duration(), infer: duration(), output: duration() });
const add = (into: Duration, ms: number) => {
  into.count++;
  into.ns += Math.round(ms * 1e6);
};

/**
 * Triton's inference statistics (what `GRPCInferenceService.ModelStatistics` answers) for the V2 requests of
 * this replica since it started, per model version: counts and total durations of successful and failed
 * requests and of their stages, and the same by batch size (rows per request). Each V2 request is its own
 * model run, so a run and a request are counted alike. Kept in memory; a version's figures go when the
 * replica stops (Triton's are per process too). Recorded by `services/model-infer.ts`.
 */
export class InferenceStatistics {
  private readonly versions = new Map<string, VersionStatistics>();

  /** Counts a request that `version` of `name` answered, with `rows` rows. */
  succeeded(name: string, version: string, rows: number, timings: RequestTimings): void {
    const stats = this.of(name, version);
    stats.lastInferenceMs = Date.now();
    stats.rows += rows;
    stats.runs++;
    add(stats.success, timings.totalMs);
    add(stats.queue, timings.queueMs);
    let batch = stats.byBatchSize.get(rows);
    if (batch === undefined) stats.byBatchSize.set(rows, (batch = compute()));
    for (const target of [stats.compute, batch]) {
      add(target.input, timings.inputMs);
      add(target.infer, timings.inferMs);
      add(target.output, timings.outputMs);
    }
  }

  /** Counts a request for `version` of `name` that failed after `totalMs`. */
  failed(name: string, version: string, totalMs: number): void {
    add(this.of(name, version).fail, totalMs);
  }

  /** The statistics of one version, in Triton's shape (zeros for a version that served nothing yet). */
  snapshot(name: string, version: string): ModelStatistics {
    const stats = this.versions.get(`${name}@${version}`) ?? empty();
    const copy = (d: Duration) => ({ count: d.count, ns: d.ns });
    const batchStats: InferBatchStatistics[] = [...stats.byBatchSize.entries()]
      .sort(([a], [b]) => a - b)
      .map(([batchSize, c]) => ({
        batchSize,
        computeInput: copy(c.input),
        computeInfer: copy(c.infer),
        computeOutput: copy(c.output),
      }));
    return {
      name,
      version,
      lastInference: stats.lastInferenceMs,
      inferenceCount: stats.rows,
      executionCount: stats.runs,
      inferenceStats: {
        success: copy(stats.success),
        fail: copy(stats.fail),
        queue: copy(stats.queue),
        computeInput: copy(stats.compute.input),
        computeInfer: copy(stats.compute.infer),
        computeOutput: copy(stats.compute.output),
      },
      batchStats,
    };
  }

  private of(name: string, version: string): VersionStatistics {
    const key = `${name}@${version}`;
    let stats = this.versions.get(key);
    if (stats === undefined) this.versions.set(key, (stats = empty()));
    return stats;
  }
}

function empty(): VersionStatistics {
  return {
    lastInferenceMs: 0,
    rows: 0,
    runs: 0,
    success: duration(),
    fail: duration(),
    queue: duration(),
    compute: compute(),
    byBatchSize: new Map(),
  };
}

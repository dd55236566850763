import type { Tracer } from '@opentelemetry/api';
import { errors } from '../errors.js';
import type { FeatureRows, FeatureStore } from '../features/feature-store.js';
import { InferenceBatcher, type InferenceBatcherOptions } from '../inference/inference-batcher.js';
import type { OnnxModel, OutputTensor, Predictions } from '../inference/onnx-model.js';
import type { Metrics } from '../telemetry/metrics.js';
import { FeatureLookups, type FeatureLookupOptions } from './feature-lookups.js';
import type { Priority } from './priority.js';

/** What the scheduler needs to know about the call a piece of work belongs to. */
export interface WorkOrder {
  readonly priority: Priority;
  /** `Date.now()` after which nobody waits for the result; undefined for streams. */
  readonly deadline: number | undefined;
}

/** Options for {@link WorkScheduler}. */
export interface WorkSchedulerOptions extends InferenceBatcherOptions, FeatureLookupOptions {
  /** BATCH_LANE_MAX_HOLD_MS: the longest a batch step waits while online calls keep coming. */
  readonly maxHoldMs: number;
}

/**
 * The one place where online calls get ahead of batch streams, for every API that runs a model (Score,
 * ScoreStream, V2 ModelInfer and ModelStreamInfer):
 *
 * - **Inference**: `infer` micro-batches a call's rows with concurrent ones of the same model version, in
 *   a queue per priority (see {@link InferenceBatcher}); `run` is a V2 request's own run (it names its
 *   outputs, so it does not share one) with the same deadline check and metrics.
 * - **Turns**: batch work proceeds in steps (plan a chunk, resolve its features, build its results, hand it
 *   to the encoder), and each step first awaits `yieldToOnline()`. Turns are given one per event-loop
 *   iteration, and not at all while online work runs (`execute`) — unless the oldest step has waited
 *   `maxHoldMs`, so that a steady online load slows a batch down but never stops it. Between two turns the
 *   loop polls its sockets, so an online call is read, scored and answered after at most one batch step,
 *   not after everything the streams had ready (`npm run bench -- --mixed` shows the difference in online
 *   p99). An idle loop spins through its iterations at once, so a batch running alone loses little.
 *
 * - **Feature lookups**: `lookupFeatures` shares one query among the lookups of a tick and priority, and
 *   lets at most FEATURE_BATCH_QUERIES batch queries run at once (see {@link FeatureLookups}); the
 *   feature store only runs the queries.
 */
export class WorkScheduler {
  private readonly batcher: InferenceBatcher;
  private readonly features: FeatureLookups | undefined;
  private readonly waiting: Array<{ since: number; resolve: () => void }> = [];
  private scheduled = false;
  private held: NodeJS.Timeout | undefined;
  private onlineInFlight = 0;

  private readonly metrics: Metrics;

  /** `deps.features`: the feature store the lookups go to (none: `lookupFeatures` answers UNAVAILABLE). */
  constructor(
    private readonly options: WorkSchedulerOptions,
    deps: { metrics: Metrics; features?: { store: FeatureStore; tracer: Tracer } },
  ) {
    this.metrics = deps.metrics;
    this.batcher = new InferenceBatcher(options, deps.metrics);
    this.features =
      deps.features === undefined
        ? undefined
        : new FeatureLookups({ ...deps.features, metrics: deps.metrics }, options);
  }

  /**
   * Runs one call's work at its priority: while online work runs, batch steps wait (up to maxHoldMs).
   * Batch work runs as it is, yielding at each step.
   */
  execute<T>(priority: Priority, work: () => Promise<T>): Promise<T> {
    if (priority === 'batch') return work();
    this.onlineInFlight++;
    return work().finally(() => {
      if (--this.onlineInFlight === 0 && this.waiting.length > 0) this.schedule();
    });
  }

  /** Resolves when it is this batch step's turn. Online work never calls it. */
  yieldToOnline(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.waiting.push({ since: performance.now(), resolve });
      this.schedule();
    });
  }

  /**
   * Looks customers' features up at the order's priority, together with the other lookups of the moment.
   * Unknown ids are simply absent from the result.
   *
   * @throws AppError UNAVAILABLE when the store cannot answer; the signal's reason when it aborts first.
   */
  lookupFeatures(
    customerIds: readonly string[],
    signal: AbortSignal,
    order: WorkOrder,
  ): Promise<FeatureRows> {
    if (this.features === undefined) return Promise.reject(errors.featureStoreUnavailable());
    return this.features.lookup(customerIds, signal, order.priority);
  }

  /**
   * Scores `rows` rows (row-major in `input`) with `model`, together with other requests of the moment
   * and priority. A job still queued at its deadline is rejected with DEADLINE_EXCEEDED, not scored.
   */
  infer(model: OnnxModel, input: Float32Array, rows: number, order: WorkOrder): Promise<Predictions> {
    return this.batcher.infer(model, input, rows, order.priority, order.deadline);
  }

  /**
   * One V2 request's run: `outputs` of `model` for `input`. Batch requests wait for their turn first;
   * a request whose deadline has passed by then is not run (DEADLINE_EXCEEDED). Timed and counted in the
   * same metrics as the micro-batched runs, so `ci_inference_*` means the same for every API.
   */
  async run(
    model: OnnxModel,
    input: { data: Float32Array; dims: readonly number[] },
    outputs: readonly string[],
    order: WorkOrder,
  ): Promise<Record<string, OutputTensor>> {
    if (order.priority === 'batch') await this.yieldToOnline();
    if (order.deadline !== undefined && Date.now() > order.deadline) {
      throw errors.deadlineExceeded('while waiting for inference');
    }
    const labels = { model: model.name, version: model.version };
    const started = performance.now();
    try {
      return await model.run({ [model.manifest.input.name]: input }, outputs);
    } finally {
      this.metrics.inferenceSeconds.observe(labels, (performance.now() - started) / 1000);
      this.metrics.inferenceBatchSize.observe(labels, input.dims[0] ?? 1);
    }
  }

  private readonly release = () => {
    this.scheduled = false;
    const head = this.waiting[0];
    if (head === undefined) return;
    const waited = performance.now() - head.since;
    if (this.onlineInFlight > 0 && waited < this.options.maxHoldMs) {
      // Resumed by the last online call's end, or by this timer when it is the longest hold allowed.
      this.held ??= setTimeout(() => {
        this.held = undefined;
        this.schedule();
      }, this.options.maxHoldMs - waited);
      return;
    }
    this.waiting.shift();
    head.resolve();
    if (this.waiting.length > 0) this.schedule();
  };

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.release);
  }
}

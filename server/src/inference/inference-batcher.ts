import { errors } from '../errors.js';
import type { Priority } from '../scheduling/priority.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { OnnxModel, Predictions } from './onnx-model.js';

/** A queued online job this close to its deadline is not worth scoring any more, in ms. */
const EXPIRY_MARGIN_MS = 1;

/** Options for {@link InferenceBatcher}. */
export interface InferenceBatcherOptions {
  /** Largest number of rows in one ONNX Runtime run; a bigger batch request is split across runs. */
  readonly maxBatchRows: number;
  /**
   * How long a run waits for more requests once work is queued, in µs. 0: requests that arrive in the
   * same event-loop turn share a run, and a lone request is not delayed at all.
   */
  readonly maxDelayMicros: number;
}

interface Job {
  readonly input: Float32Array;
  readonly rows: number;
  readonly priority: Priority;
  /** `Date.now()` after which nobody waits for the result (online calls); undefined for none. */
  readonly deadline: number | undefined;
  /** Rows already handed to a run (a batch job may span several runs). */
  taken: number;
  readonly scores: Float32Array;
  contributions: Float32Array | undefined;
  pendingSlices: number;
  readonly resolve: (predictions: Predictions) => void;
  readonly reject: (error: unknown) => void;
}

/** One priority's jobs for one model version, and whether a run for them is scheduled or running. */
interface Queue {
  readonly jobs: Job[];
  scheduled: boolean;
  buffer: Float32Array;
}

/**
 * Micro-batching per model version and priority (owned by `scheduling/work-scheduler.ts`): concurrent requests for the same version are scored by one
 * ONNX Runtime run, their rows copied into one reused input buffer. Online calls and batch streams queue
 * apart, so an online call never waits in line behind batch rows (onnxruntime-node runs a session
 * synchronously on the event loop, one `setImmediate` after `run()` is called, so a run is short but
 * blocks while it lasts: batch runs are kept to `maxBatchRows`, splitting a large chunk). Within a priority
 * runs are sequential: the next one starts as soon as the previous returned, with whatever queued
 * meanwhile. An online request whose deadline passes while it is queued is rejected instead of scored.
 */
export class InferenceBatcher {
  /** Weak: a version retired by a registry swap takes its queues and input buffer with it. */
  private readonly queues = new WeakMap<OnnxModel, Record<Priority, Queue>>();

  constructor(
    private readonly options: InferenceBatcherOptions,
    private readonly metrics: Metrics,
  ) {}

  /**
   * Scores `rows` rows (row-major in `input`) with `model`, together with other requests of the moment.
   *
   * @param deadline `Date.now()` after which nobody waits for the result: a job still queued then is not
   *   scored but rejected with DEADLINE_EXCEEDED. A run that starts after a job's deadline anyway counts in
   *   `ci_requests_executed_after_deadline_total`, which therefore stays 0.
   */
  infer(
    model: OnnxModel,
    input: Float32Array,
    rows: number,
    priority: Priority,
    deadline?: number,
  ): Promise<Predictions> {
    let queues = this.queues.get(model);
    if (queues === undefined) {
      const queue = (): Queue => ({ jobs: [], scheduled: false, buffer: new Float32Array(0) });
      queues = { online: queue(), batch: queue() };
      this.queues.set(model, queues);
    }
    const target = queues[priority];
    return new Promise<Predictions>((resolve, reject) => {
      const job: Job = {
        input,
        rows,
        priority,
        deadline,
        taken: 0,
        scores: new Float32Array(rows),
        contributions: undefined,
        pendingSlices: 0,
        resolve,
        reject,
      };
      target.jobs.push(job);
      this.schedule(model, target);
    });
  }

  private schedule(model: OnnxModel, queue: Queue): void {
    if (queue.scheduled) return;
    queue.scheduled = true;
    const run = () => void this.run(model, queue);
    if (this.options.maxDelayMicros > 0) setTimeout(run, this.options.maxDelayMicros / 1000);
    else setImmediate(run);
  }

  private async run(model: OnnxModel, queue: Queue): Promise<void> {
    const width = model.featureNames.length;
    const slices: Array<{ job: Job; from: number; rows: number; at: number }> = [];
    let total = 0;
    const now = Date.now();
    // A job is taken whole unless it alone exceeds what is left of the run (batch chunks only: an online
    // call is kept whole, however large).
    const { jobs } = queue;
    while (jobs.length > 0 && total < this.options.maxBatchRows) {
      const job = jobs[0]!;
      // A call whose deadline passed while it waited here (or is about to: its answer still has to be
      // encoded and sent) is answered at once, not scored: under overload this queue is where time runs
      // out (test/reliability/overload.test.ts).
      if (job.taken === 0 && job.deadline !== undefined && now > job.deadline - EXPIRY_MARGIN_MS) {
        jobs.shift();
        job.reject(errors.deadlineExceeded('while waiting for inference'));
        continue;
      }
      const rows = Math.min(job.rows - job.taken, this.options.maxBatchRows - total);
      if (rows < job.rows - job.taken && job.priority === 'online' && total > 0) break; // keep online calls whole
      slices.push({ job, from: job.taken, rows, at: total });
      job.taken += rows;
      job.pendingSlices++;
      total += rows;
      if (job.taken === job.rows) jobs.shift();
    }
    if (total === 0) {
      queue.scheduled = false; // every queued job had expired; the queues are empty
      return;
    }
    if (queue.buffer.length < total * width) queue.buffer = new Float32Array(Math.max(total, 64) * width);
    const input = queue.buffer;
    for (const slice of slices) {
      input.set(
        slice.job.input.subarray(slice.from * width, (slice.from + slice.rows) * width),
        slice.at * width,
      );
    }

    const startedAt = Date.now();
    for (const { job, from } of slices) {
      if (from === 0 && job.deadline !== undefined && startedAt > job.deadline) {
        this.metrics.executedAfterDeadline.inc();
      }
    }
    const labels = { model: model.name, version: model.version };
    const started = performance.now();
    try {
      const predictions = await model.predict(input, total);
      for (const { job, from, rows, at } of slices) {
        job.scores.set(predictions.scores.subarray(at, at + rows), from);
        if (predictions.contributions !== undefined) {
          job.contributions ??= new Float32Array(job.rows * width);
          job.contributions.set(
            predictions.contributions.subarray(at * width, (at + rows) * width),
            from * width,
          );
        }
        if (--job.pendingSlices === 0 && job.taken === job.rows) {
          job.resolve({ scores: job.scores, contributions: job.contributions });
        }
      }
    } catch (error) {
      for (const { job } of slices) {
        job.reject(error);
        // A failed job stops taking part: drop what is left of it from the queues.
        job.taken = job.rows;
      }
      jobs.splice(0, jobs.length, ...jobs.filter((job) => job.taken < job.rows));
    } finally {
      this.metrics.inferenceSeconds.observe(labels, (performance.now() - started) / 1000);
      this.metrics.inferenceBatchSize.observe(labels, total);
      queue.scheduled = false;
      if (jobs.length > 0) this.schedule(model, queue);
    }
  }
}

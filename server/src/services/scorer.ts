import { SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { Status } from 'nice-grpc-common';
import type { Config } from '../config/config.js';
import type { CallPlan } from '../grpc/call-plan.js';
import { AppError, errors } from '../errors.js';
import type { FeatureRows, FeatureStore } from '../features/feature-store.js';
import {
  FeatureSource,
  type Customer,
  type CustomerResult,
  type Prediction,
} from '../../../gen/customer_intelligence/scoring/v1/scoring.js';
import type { DriftMonitor } from '../inference/drift-monitor.js';
import type { ModelCatalog } from '../inference/model-catalog.js';
import type { OnnxModel, Predictions } from '../inference/onnx-model.js';
import { toItemError, toWireError } from '../grpc/wire-error.js';
import { topReasonCodes } from '../inference/reason-codes.js';
import type { Metrics } from '../telemetry/metrics.js';
import { Tallies, type Tally } from '../telemetry/tally.js';
import type { WorkScheduler } from '../scheduling/work-scheduler.js';

/** What to score: the common part of a Score request and a ScoreStream chunk. */
export interface ScoreInput {
  readonly model: string;
  readonly modelVersion: string;
  readonly customers: readonly Customer[];
  readonly reasonCodes: number;
}

/**
 * How failures surface. `strict` (unary Score): an invalid item or an unreachable feature store fails the
 * whole call, so the client's retry policy and status handling see it. Lenient (ScoreStream): every
 * failure stays inside its item, so one bad customer never breaks a batch. (Priority is the call plan's.)
 */
export interface ScoreMode {
  readonly strict: boolean;
}

/**
 * The part of the call plan scoring reads: it stops when `signal` aborts, and at the next stage with
 * DEADLINE_EXCEEDED once `deadline` has passed; `priority` decides whether its steps yield to online work.
 */
export type ScorePlan = Pick<CallPlan, 'signal' | 'deadline' | 'priority'>;

/** Scores customers: validates them, gathers their features, runs the model and explains the scores. */
export interface Scorer {
  /**
   * @returns one result per customer, in order.
   * @throws AppError INVALID_ARGUMENT for a malformed request, NOT_FOUND for an unknown model or version;
   *   in strict mode also for the first invalid item, and UNAVAILABLE when the feature store is down.
   */
  score(input: ScoreInput, plan: ScorePlan, mode: ScoreMode): Promise<CustomerResult[]>;
}

/** A customer's features, ready to score, or why it cannot be scored. */
type ItemPlan =
  | { kind: 'ready'; values: Float64Array; source: FeatureSource }
  | { kind: 'lookup'; customerId: string; overrides: Float64Array }
  | { kind: 'failed'; error: AppError };

/** Wire names of the feature sources, for metric labels. */
const SOURCE_LABELS: Partial<Record<FeatureSource, string>> = {
  [FeatureSource.FEATURE_SOURCE_STORE]: 'store',
  [FeatureSource.FEATURE_SOURCE_INLINE]: 'inline',
  [FeatureSource.FEATURE_SOURCE_FALLBACK]: 'fallback',
};

/** Creates the scorer over the served models and the feature store. */
export function createScorer(deps: {
  catalog: ModelCatalog;
  featureStore: FeatureStore;
  drift: DriftMonitor;
  /** Runs the models, and lets online calls get in between the steps of batch ones. */
  scheduler: WorkScheduler;
  metrics: Metrics;
  /** Undefined with tracing off: no `inference` span is made (a no-op span still costs per call). */
  tracer: Tracer | undefined;
  config: Pick<Config, 'maxCustomersPerRequest' | 'customerIdPattern' | 'featureFallback'>;
}): Scorer {
  const { catalog, featureStore, drift, scheduler, metrics, tracer, config } = deps;

  /** One request's rows, scored in a micro-batch with concurrent requests (the scheduler times the runs). */
  async function infer(
    model: OnnxModel,
    input: Float32Array,
    rows: number,
    plan: ScorePlan,
  ): Promise<Predictions> {
    if (tracer === undefined) {
      try {
        return await scheduler.infer(model, input, rows, plan);
      } catch (error) {
        throw inferenceError(model, error);
      }
    }
    const span = tracer.startSpan('inference', {
      attributes: {
        'ci.model': `${model.name}@${model.version}`,
        'ci.rows': rows,
        'ci.priority': plan.priority,
      },
    });
    try {
      return await scheduler.infer(model, input, rows, plan);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
      throw inferenceError(model, error);
    } finally {
      span.end();
    }
  }
  function inferenceError(model: OnnxModel, error: unknown): AppError {
    if (error instanceof AppError) return error; // ERR_MODEL_RETIRED: the model was swapped out mid-call
    return errors.inferenceFailed(model.name, error);
  }
  // Predictions by model version and feature source, counted in plain numbers (see telemetry/tally.ts).
  const tallies = new Tallies(metrics);
  const predictionTallies = new WeakMap<OnnxModel, Map<FeatureSource, Tally>>();
  const predictionCounts = (model: OnnxModel) => {
    let bySource = predictionTallies.get(model);
    if (bySource === undefined) {
      bySource = new Map();
      predictionTallies.set(model, bySource);
    }
    const counts = bySource;
    return (source: FeatureSource): Tally => {
      let tally = counts.get(source);
      if (tally === undefined) {
        const labels = {
          model: model.name,
          version: model.version,
          source: SOURCE_LABELS[source] ?? 'unknown',
        };
        tally = tallies.of(metrics.predictions.labels(labels));
        counts.set(source, tally);
      }
      return tally;
    };
  };
  // Where each model feature sits in a feature-store row; the store's columns are fixed after start-up.
  const storeIndexes = new WeakMap<OnnxModel, Int32Array>();
  const storeIndexOf = (model: OnnxModel): Int32Array => {
    let indexes = storeIndexes.get(model);
    if (indexes === undefined) {
      indexes = Int32Array.from(model.featureNames, (name) => featureStore.columns.indexOf(name));
      storeIndexes.set(model, indexes);
    }
    return indexes;
  };

  function checkRequest(input: ScoreInput): void {
    if (input.model === '') throw errors.invalidArgument('model', 'required (see ListModels)');
    if (input.customers.length === 0)
      throw errors.invalidArgument('customers', 'at least one customer is required');
    if (input.customers.length > config.maxCustomersPerRequest) {
      throw errors.invalidArgument(
        'customers',
        `${input.customers.length} customers, at most ${config.maxCustomersPerRequest} are allowed per call (MAX_CUSTOMERS_PER_REQUEST)`,
      );
    }
  }

  /** An item refused for `problem` in its field `customers[index]` + `at` (built only when it fails). */
  function invalidItem(index: number, at: string, problem: string): ItemPlan {
    return { kind: 'failed', error: errors.invalidArgument(`customers[${index}]${at}`, problem) };
  }

  function planItem(index: number, customer: Customer, model: OnnxModel): ItemPlan {
    const { customerId } = customer;
    if (customerId !== '' && !config.customerIdPattern.test(customerId)) {
      return invalidItem(
        index,
        '.customer_id',
        `${JSON.stringify(customerId.slice(0, 80))} does not match ${config.customerIdPattern.source}`,
      );
    }
    const names = model.featureNames;
    const values = new Float64Array(names.length).fill(NaN);
    let given = 0;
    for (const name in customer.features) {
      const value = customer.features[name]!;
      const column = model.featureColumns.get(name);
      if (column === undefined) {
        return invalidItem(
          index,
          `.features.${name}`,
          `unknown feature for model ${model.name}@${model.version} (features: ${names.join(', ')})`,
        );
      }
      if (!Number.isFinite(value))
        return invalidItem(index, `.features.${name}`, `must be a finite number, got ${value}`);
      values[column] = value;
      given++;
    }
    if (given === names.length) return { kind: 'ready', values, source: FeatureSource.FEATURE_SOURCE_INLINE };
    if (customerId !== '') return { kind: 'lookup', customerId, overrides: values };
    if (given === 0) return invalidItem(index, '', 'set customer_id, features, or both');
    const missing = names.filter((_, i) => Number.isNaN(values[i]));
    return invalidItem(
      index,
      '.features',
      `missing ${missing.join(', ')} (send every feature of ${model.name}@${model.version}, or a customer_id)`,
    );
  }

  /** Fills a by-id plan from a store row (or the population means), inline values winning. */
  function resolveLookup(
    plan: Extract<ItemPlan, { kind: 'lookup' }>,
    model: OnnxModel,
    rows: FeatureRows | undefined,
  ): ItemPlan {
    const values = Float64Array.from(plan.overrides);
    if (rows === undefined) {
      model.manifest.features.forEach((feature, i) => {
        if (Number.isNaN(values[i])) values[i] = feature.mean;
      });
      return { kind: 'ready', values, source: FeatureSource.FEATURE_SOURCE_FALLBACK };
    }
    const row = rows.get(plan.customerId);
    if (row === undefined) return { kind: 'failed', error: errors.customerNotFound(plan.customerId) };
    const indexes = storeIndexOf(model);
    const missing: string[] = [];
    for (let i = 0; i < values.length; i++) {
      if (!Number.isNaN(values[i])) continue;
      const stored = row[indexes[i]!] ?? NaN;
      if (Number.isNaN(stored)) missing.push(model.featureNames[i]!);
      values[i] = stored;
    }
    if (missing.length > 0)
      return { kind: 'failed', error: errors.featuresMissing(plan.customerId, missing) };
    return { kind: 'ready', values, source: FeatureSource.FEATURE_SOURCE_STORE };
  }

  async function gatherFeatures(
    plans: ItemPlan[],
    model: OnnxModel,
    call: ScorePlan,
    mode: ScoreMode,
  ): Promise<ItemPlan[]> {
    const ids = plans.flatMap((plan) => (plan.kind === 'lookup' ? [plan.customerId] : []));
    if (ids.length === 0) return plans;
    let rows: FeatureRows | undefined;
    try {
      rows = await scheduler.lookupFeatures(ids, call.signal, call);
    } catch (error) {
      const unavailable = error instanceof AppError && error.status === Status.UNAVAILABLE;
      if (!unavailable) throw error;
      if (config.featureFallback === 'none') {
        if (mode.strict) throw error;
        return plans.map((plan) => (plan.kind === 'lookup' ? { kind: 'failed', error } : plan));
      }
      rows = undefined; // population-mean fallback
    }
    if (call.priority === 'batch') await scheduler.yieldToOnline();
    // The lookup waited: the client may have left meanwhile.
    call.signal.throwIfAborted();
    return plans.map((plan) => (plan.kind === 'lookup' ? resolveLookup(plan, model, rows) : plan));
  }

  /**
   * Scores a call's customers. Batch work waits for its turn before each CPU-heavy step; online calls run
   * straight through, without an await per step.
   */
  async function scoreItems(input: ScoreInput, call: ScorePlan, mode: ScoreMode): Promise<CustomerResult[]> {
    checkRequest(input);
    // The signal is asked for only after a wait (here, or a feature lookup): an online call with inline
    // features never waits, and never pays for making it.
    if (call.priority === 'batch') {
      await scheduler.yieldToOnline();
      call.signal.throwIfAborted();
    }
    const model = catalog.resolve(input.model, input.modelVersion);
    let plans = input.customers.map((customer, i) => planItem(i, customer, model));
    if (mode.strict) {
      const invalid = plans.find((plan) => plan.kind === 'failed');
      if (invalid?.kind === 'failed') throw invalid.error;
    }
    plans = await gatherFeatures(plans, model, call, mode);
    if (call.deadline !== undefined && Date.now() > call.deadline) {
      throw errors.deadlineExceeded('before inference');
    }

    const width = model.featureNames.length;
    let readyCount = 0;
    for (const plan of plans) if (plan.kind === 'ready') readyCount++;
    const input32 = new Float32Array(readyCount * width);
    for (let i = 0, row = 0; i < plans.length; i++) {
      const plan = plans[i]!;
      if (plan.kind !== 'ready') continue;
      input32.set(plan.values, row++ * width);
      drift.observe(model, plan.values);
    }
    const predictions = readyCount > 0 ? await infer(model, input32, readyCount, call) : undefined;

    if (call.priority === 'batch') await scheduler.yieldToOnline();
    const counts = predictionCounts(model);
    const results: CustomerResult[] = new Array<CustomerResult>(plans.length);
    for (let i = 0, row = 0; i < plans.length; i++) {
      const plan = plans[i]!;
      const { customerId } = input.customers[i]!;
      if (plan.kind === 'failed') {
        const error = toItemError(toWireError(plan.error));
        results[i] = { customerId, outcome: { $case: 'error', value: error } };
        metrics.itemErrors.inc({ reason: plan.error.reason });
        continue;
      }
      // Every plan that is not failed is ready once the features are gathered.
      const { values, source } = plan as Extract<ItemPlan, { kind: 'ready' }>;
      const prediction: Prediction = {
        score: predictions!.scores[row]!,
        model: model.name,
        modelVersion: model.version,
        featureSource: source,
        reasonCodes:
          input.reasonCodes > 0 && predictions!.contributions !== undefined
            ? topReasonCodes(predictions!.contributions, row, model.featureNames, values, input.reasonCodes)
            : [],
      };
      results[i] = { customerId, outcome: { $case: 'prediction', value: prediction } };
      counts(source).inc();
      row++;
    }
    return results;
  }

  return {
    score(input, plan, mode) {
      // Online calls run straight through, and batch steps wait while one is being scored.
      return scheduler.execute(plan.priority, () => scoreItems(input, plan, mode));
    },
  };
}

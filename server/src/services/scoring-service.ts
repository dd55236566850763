import { randomUUID } from 'node:crypto';
import type { CallContext } from 'nice-grpc-common';
import type { AuditEntry, PredictionAuditLog } from '../audit/prediction-audit-log.js';
import type { CallPlanContext } from '../grpc/call-plan.js';
import type { Config } from '../config/config.js';
import { AppError, errors } from '../errors.js';
import {
  FeatureSource,
  ModelVersionState,
  type CustomerResult,
  type Model,
  type ScoreStreamRequest,
  type ScoreStreamResponse,
  type ScoringServiceImplementation,
} from '../../../gen/customer_intelligence/scoring/v1/scoring.js';
import type { ModelCatalog, ServedModel } from '../inference/model-catalog.js';
import type { Lifecycle } from '../lifecycle/lifecycle.js';
import { DRAINED, orDrained } from '../lifecycle/or-drained.js';
import type { Logger } from '../telemetry/logger.js';
import type { WorkScheduler } from '../scheduling/work-scheduler.js';
import { toItemError, toWireError } from '../grpc/wire-error.js';
import type { PrincipalLimits } from '../security/principal-limits.js';
import type { Scorer } from './scorer.js';

const AUDIT_SOURCES: Partial<Record<FeatureSource, AuditEntry['featureSource']>> = {
  [FeatureSource.FEATURE_SOURCE_STORE]: 'store',
  [FeatureSource.FEATURE_SOURCE_INLINE]: 'inline',
  [FeatureSource.FEATURE_SOURCE_FALLBACK]: 'fallback',
};

/** A chunk's outcome; `aborted` carries the abort so the stream loop can rethrow it in order. */
type ChunkOutcome = { response: ScoreStreamResponse } | { aborted: unknown };

/** The `customer_intelligence.scoring.v1.ScoringService` handlers. */
export function createScoringService(deps: {
  scorer: Scorer;
  catalog: ModelCatalog;
  lifecycle: Lifecycle;
  logger: Logger;
  audit: PredictionAuditLog;
  /** Stream answers wait for a turn here before they are encoded (see {@link WorkScheduler}). */
  scheduler: WorkScheduler;
  /** Each stream chunk takes a token from its principal's bucket (`RATE_LIMITS`), as a call does. */
  limits: Pick<PrincipalLimits, 'throttle'>;
  config: Pick<Config, 'streamChunksInFlight' | 'auditSampleRate'>;
}): ScoringServiceImplementation<CallPlanContext> {
  const { scorer, catalog, lifecycle, logger, audit, scheduler, limits, config } = deps;

  /**
   * Queues a sampled Score call's predictions for the audit log (online calls only: batch streams
   * write their own outputs). The request id is the caller's `x-request-id`, or a new one.
   */
  function auditCall(results: readonly CustomerResult[], context: CallContext & CallPlanContext): void {
    if (config.auditSampleRate <= 0 || Math.random() >= config.auditSampleRate) return;
    const requestId = context.metadata.get('x-request-id') ?? randomUUID();
    const span = context.plan.trace;
    // The authenticated caller; the anonymous principal of AUTH_MODE=none is recorded as nobody (null).
    const principal = context.plan.principal.via === 'anonymous' ? null : context.plan.principal.id;
    const predictedAt = new Date();
    const entries: AuditEntry[] = [];
    for (const result of results) {
      if (result.outcome?.$case !== 'prediction') continue;
      const prediction = result.outcome.value;
      entries.push({
        predictedAt,
        requestId,
        principal,
        customerId: result.customerId,
        model: prediction.model,
        modelVersion: prediction.modelVersion,
        score: prediction.score,
        featureSource: AUDIT_SOURCES[prediction.featureSource] ?? 'store',
        traceId: span?.traceId ?? null,
        spanId: span?.spanId ?? null,
      });
    }
    audit.record(entries);
  }

  async function scoreChunk(chunk: ScoreStreamRequest, context: CallPlanContext): Promise<ChunkOutcome> {
    try {
      const results = await scorer.score(chunk, context.plan, { strict: false });
      return { response: { chunkId: chunk.chunkId, results, error: undefined } };
    } catch (error) {
      // A chunk that failed on its own is answered with its error and the stream goes on; an abort (the
      // client left, the deadline passed, the server drains) ends the stream in order.
      if (!(error instanceof AppError) && context.plan.signal.aborted) return { aborted: error };
      const wire = toWireError(error);
      if (wire.unexpected)
        logger.error({ err: error, chunkId: chunk.chunkId }, 'stream chunk failed unexpectedly');
      return { response: { chunkId: chunk.chunkId, results: [], error: toItemError(wire) } };
    }
  }

  return {
    async score(request, context) {
      const results = await scorer.score(request, context.plan, { strict: true });
      auditCall(results, context);
      return { results };
    },

    /**
     * Up to STREAM_CHUNKS_IN_FLIGHT chunks are scored at once and answered in arrival order. A finished
     * chunk is answered even while the next one has not arrived (a client may wait for each answer), and
     * no new chunk is read while the window is full, so HTTP/2 flow control pushes back on the sender.
     * When the server drains, the stream stops reading, answers what it holds and ends with UNAVAILABLE.
     * Every chunk takes a token from the principal's bucket before it is scored; with the bucket empty no
     * chunk is read until a token is back, so the stream runs at the principal's rate (the unary Score
     * path is unchanged: one token per call, like every call).
     */
    async *scoreStream(requests, context) {
      const { principal, signal } = context.plan;
      const iterator = limits.throttle(requests, principal, signal)[Symbol.asyncIterator]();
      const window: Array<Promise<ChunkOutcome>> = [];
      const pull = () => {
        const next = iterator.next();
        void next.catch(() => undefined); // observed below; avoid an unhandled rejection while the window is full
        return next;
      };
      let next: Promise<IteratorResult<ScoreStreamRequest>> | undefined = pull();
      while (next !== undefined || window.length > 0) {
        const head = window[0];
        if (next !== undefined && window.length < config.streamChunksInFlight) {
          const winner = await orDrained(
            Promise.race([
              next.then((result) => ({ kind: 'request' as const, result })),
              ...(head ? [head.then((outcome) => ({ kind: 'answer' as const, outcome }))] : []),
            ]),
            lifecycle.drainSignal,
          );
          if (winner === DRAINED) {
            next = undefined;
          } else if (winner.kind === 'request') {
            if (winner.result.done) next = undefined;
            else {
              window.push(scoreChunk(winner.result.value, context));
              next = pull();
            }
          } else {
            void window.shift(); // the head, already settled: its outcome is `winner.outcome`
            await scheduler.yieldToOnline();
            yield unwrap(winner.outcome);
          }
        } else {
          const outcome = await window.shift()!;
          await scheduler.yieldToOnline();
          yield unwrap(outcome);
        }
      }
      if (lifecycle.drainSignal.aborted) throw errors.notServing('shutting down');
    },

    async listModels() {
      return { models: catalog.list().map((model) => describeModel(model)) };
    },

    async getModel(request) {
      if (request.name === '') throw errors.invalidArgument('name', 'required (see ListModels)');
      const model = catalog.get(request.name);
      if (request.version !== '') catalog.resolve(request.name, request.version); // NOT_FOUND if unknown
      return { model: describeModel(model, request.version) };
    },
  };
}

function unwrap(outcome: ChunkOutcome): ScoreStreamResponse {
  if ('aborted' in outcome) throw outcome.aborted;
  return outcome.response;
}

/** The wire description of a served model, optionally limited to one version. */
function describeModel(model: ServedModel, onlyVersion = ''): Model {
  const versions = [...model.versions.values()].filter(
    (v) => onlyVersion === '' || v.version === onlyVersion,
  );
  return {
    name: model.name,
    defaultVersion: model.defaultVersion,
    versions: versions.map(({ manifest }) => ({
      version: manifest.version,
      state: ModelVersionState.MODEL_VERSION_STATE_READY,
      task: manifest.task,
      scoreDescription: manifest.scoreDescription,
      features: manifest.features.map((f) => ({ name: f.name, description: f.description, unit: f.unit })),
      metrics: { ...manifest.metrics },
      trainingSnapshot: manifest.training.snapshotId,
      onnxSha256: manifest.onnx.sha256,
    })),
  };
}

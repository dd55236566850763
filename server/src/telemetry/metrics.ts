import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { FastHistogram } from './fast-histogram.js';

/**
 * Latency buckets for a sub-millisecond service, in seconds: fine below 1 ms where a healthy call
 * lands, coarse up to the 5 s request cap.
 */
export const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
  1, 2.5, 5,
];

/** Rows per inference run. */
export const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048];

/**
 * Every metric the server exports, in one place, on a private registry (no global state, so several
 * servers can live in one test process). Histograms, never summaries: they aggregate across pods.
 *
 * The names used by the chart's `files/dashboards/` and `files/alerts/` must exist here; `test/integration/observability.test.ts`
 * scrapes a real server and checks.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const grpcLabels = ['grpc_service', 'grpc_method', 'grpc_type'] as const;
  const samplers: Array<() => void | Promise<void>> = [];

  return {
    registry,
    /**
     * Registers a function that refreshes gauges derived from state (pool sizes, PSI, batch freshness);
     * every sampler runs before each scrape. A failing sampler is skipped, never fails the scrape.
     */
    addSampler(sampler: () => void | Promise<void>): void {
      samplers.push(sampler);
    },
    /** Runs the samplers, then renders the registry in the Prometheus text format. */
    async render(): Promise<string> {
      await Promise.allSettled(samplers.map(async (sampler) => sampler()));
      return registry.metrics();
    },
    /** gRPC calls started, by service, method and call type (go-grpc-prometheus names). */
    grpcStarted: new Counter({
      name: 'grpc_server_started_total',
      help: 'gRPC calls started on the server.',
      labelNames: grpcLabels,
      registers,
    }),
    /** gRPC calls finished, by status code. */
    grpcHandled: new Counter({
      name: 'grpc_server_handled_total',
      help: 'gRPC calls completed on the server, by status code.',
      labelNames: [...grpcLabels, 'grpc_code'],
      registers,
    }),
    /** Time from call start to status, in seconds. */
    grpcHandlingSeconds: new FastHistogram({
      name: 'grpc_server_handling_seconds',
      help: 'Time to handle a gRPC call, from its start to its status.',
      labelNames: grpcLabels,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    /** Calls currently running. */
    inFlight: new Gauge({
      name: 'ci_in_flight_requests',
      help: 'gRPC calls currently running (scoring API).',
      registers,
    }),
    /** Time spent waiting in a queue before work starts, by queue. */
    queueWaitSeconds: new Histogram({
      name: 'ci_queue_wait_seconds',
      help: 'Time waited in a queue before the work started (feature_lookup: coalescing before the query).',
      labelNames: ['queue'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    /** Feature-store query time, by outcome. */
    featureFetchSeconds: new Histogram({
      name: 'ci_feature_fetch_seconds',
      help: 'Time of one coalesced feature-store query.',
      labelNames: ['outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    /** ONNX Runtime run time per model version. */
    inferenceSeconds: new FastHistogram({
      name: 'ci_inference_seconds',
      help: 'Time of one ONNX Runtime run.',
      labelNames: ['model', 'version'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    /** Rows per ONNX Runtime run per model version. */
    inferenceBatchSize: new FastHistogram({
      name: 'ci_inference_batch_size',
      help: 'Rows scored by one ONNX Runtime run.',
      labelNames: ['model', 'version'],
      buckets: BATCH_SIZE_BUCKETS,
      registers,
    }),
    /**
     * Calls whose inference started after their deadline (the client's, or REQUEST_TIMEOUT_MS) had passed:
     * work nobody waits for any more. Admission and the scorer refuse such calls, so this stays 0 unless a
     * queue in between holds calls past their deadline (`test/reliability/overload.test.ts` checks it).
     */
    executedAfterDeadline: new Counter({
      name: 'ci_requests_executed_after_deadline_total',
      help: 'Calls whose inference started after their deadline had passed (work nobody waits for); should stay 0.',
      registers,
    }),
    /** Predictions served, by model version and feature source (store, inline, fallback). */
    predictions: new Counter({
      name: 'ci_predictions_total',
      help: 'Predictions served, by model version and where the features came from.',
      labelNames: ['model', 'version', 'source'],
      registers,
    }),
    /** Per-customer errors inside OK responses, by reason. */
    itemErrors: new Counter({
      name: 'ci_item_errors_total',
      help: 'Per-customer errors returned inside otherwise successful responses, by reason.',
      labelNames: ['reason'],
      registers,
    }),
    /** Circuit breaker state: 0 closed, 1 half-open, 2 open. */
    breakerState: new Gauge({
      name: 'ci_breaker_state',
      help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open.',
      labelNames: ['breaker'],
      registers,
    }),
    /** Postgres pool connections by pool and state (total, idle, waiting clients). */
    poolConnections: new Gauge({
      name: 'ci_db_pool_connections',
      help: 'Postgres pool connections (state=total|idle) and clients waiting for one (state=waiting).',
      labelNames: ['pool', 'state'],
      registers,
    }),
    /** 1 per loaded model version; `default` says whether it serves unpinned requests. */
    modelVersionInfo: new Gauge({
      name: 'ci_model_version_info',
      help: 'Loaded model versions (value 1); default="true" marks the version serving unpinned requests.',
      labelNames: ['model', 'version', 'default'],
      registers,
    }),
    /** 1 when the model's default version is loaded and warm, else 0. */
    modelReady: new Gauge({
      name: 'ci_model_ready',
      help: 'Whether the model can serve (default version loaded and warmed): 1 or 0.',
      labelNames: ['model'],
      registers,
    }),
    /** Population stability index of served features against the training distribution. */
    featureDriftPsi: new Gauge({
      name: 'ci_feature_drift_psi',
      help: 'Population stability index of a served feature over the last drift window vs training.',
      labelNames: ['model', 'version', 'feature'],
      registers,
    }),
    /**
     * Prediction audit rows by outcome: `written` by the live writer, `spilled` to local disk, `replayed`
     * from disk into the database, or `dropped` (buffer overflow without a spill, spill full, shutdown).
     */
    auditRows: new Counter({
      name: 'ci_audit_rows_total',
      help: 'Prediction audit rows, by outcome (written, spilled to disk, replayed from disk, dropped).',
      labelNames: ['outcome'],
      registers,
    }),
    /** Audit rows waiting to be written. */
    auditBufferedRows: new Gauge({
      name: 'ci_audit_buffered_rows',
      help: 'Prediction audit rows queued in memory, waiting to be written.',
      registers,
    }),
    /** Bytes of audit rows spilled to local disk, waiting to be replayed. */
    auditSpillBytes: new Gauge({
      name: 'ci_audit_spill_bytes',
      help: 'Bytes of prediction audit rows spilled to local disk (AUDIT_SPILL_DIR), waiting to be replayed.',
      registers,
    }),
    /** The spill's bound, for alerting before it is reached. */
    auditSpillMaxBytes: new Gauge({
      name: 'ci_audit_spill_max_bytes',
      help: 'Bytes the audit spill may hold (AUDIT_SPILL_MAX_BYTES); rows beyond it are dropped. Absent without a spill.',
      registers,
    }),
    /** Time of one audit INSERT batch. */
    auditWriteSeconds: new Histogram({
      name: 'ci_audit_write_seconds',
      help: 'Time to write one batch of prediction audit rows.',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    /** 1 while Vault answers, 0 after a request failed for lack of it. */
    vaultUp: new Gauge({
      name: 'ci_vault_up',
      help: 'Whether the last Vault request reached Vault (1) or not (0); absent without Vault.',
      registers,
    }),
    /** Failed Vault requests by operation. */
    vaultErrors: new Counter({
      name: 'ci_vault_errors_total',
      help: 'Vault requests that failed, by operation.',
      labelNames: ['operation'],
      registers,
    }),
    /** Seconds left on a Vault lease (dynamic database credentials). */
    vaultLeaseRemaining: new Gauge({
      name: 'ci_vault_lease_remaining_seconds',
      help: 'Seconds until a Vault lease (dynamic database credentials) expires.',
      labelNames: ['lease'],
      registers,
    }),
    /** Unix time of the last successful batch scoring run per model (from batch_runs). */
    batchLastSuccess: new Gauge({
      name: 'ci_batch_last_success_timestamp_seconds',
      help: 'Unix time at which the last successful batch scoring run of the model finished.',
      labelNames: ['model'],
      registers,
    }),
  };
}

/** The server's metrics. */
export type Metrics = ReturnType<typeof createMetrics>;

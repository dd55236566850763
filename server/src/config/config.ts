import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, environmentError } from './env-errors.js';
import { parseSecurityConfig, securityEnvironment, type SecurityConfig } from './security-config.js';
import { parseVaultConfig, vaultEnvironment, type VaultConfig } from './vault-config.js';

/** One configuration field: the environment variable it is read from, and its schema (with the default). */
interface Setting<Env extends string, Schema extends z.ZodType> {
  readonly env: Env;
  readonly schema: Schema;
}
const setting = <Env extends string, Schema extends z.ZodType>(
  env: Env,
  schema: Schema,
): Setting<Env, Schema> => ({ env, schema });

// Its home is env-errors.ts, next to how the problems are worded; importers keep reading it from here.
export { ConfigError } from './env-errors.js';

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const optionalUrl = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .pipe(z.url({ protocol: /^postgres(ql)?$/ }).optional());

/**
 * Every setting of the server but TLS/authentication and Vault, written once: its field in {@link Config}
 * (documented here; the TSDoc reaches `Config`'s fields), its environment variable and its schema with the
 * default. The README's table lists the same variables (`test/unit/config.test.ts` checks that they agree).
 */
const settings = {
  /**
   * `GRPC_HOST`: interface the gRPC port binds to. @default "127.0.0.1" without DATABASE_URL (the quick start,
   * where every caller is an anonymous admin), else "0.0.0.0"
   */
  grpcHost: setting('GRPC_HOST', z.string().min(1).optional()),
  /** `GRPC_PORT`: gRPC port; 0 picks a free port (logged at start). @default 50051 */
  grpcPort: setting('GRPC_PORT', integer(0, 65_535).default(50_051)),
  /**
   * `HEALTH_PORT`: an extra plaintext port serving only `grpc.health.v1`, for Kubernetes' native gRPC
   * probes when the main port uses TLS (the kubelet's gRPC probe cannot do TLS). @default unset
   */
  healthPort: setting('HEALTH_PORT', integer(0, 65_535).optional()),
  /**
   * `DATABASE_URL` (or the content of `DATABASE_URL_FILE`): primary Postgres. Unset: an embedded
   * Postgres is started in `embeddedPostgresDir`.
   */
  databaseUrl: setting('DATABASE_URL', optionalUrl.optional()),
  /** `DATABASE_URL_FILE`: file holding DATABASE_URL (a Vault Agent template); re-read when it changes. */
  databaseUrlFile: setting('DATABASE_URL_FILE', z.string().trim().min(1).optional()),
  /** `DATABASE_READ_URL`: optional read replica used for feature reads only. @default unset (primary) */
  databaseReadUrl: setting('DATABASE_READ_URL', optionalUrl.optional()),
  /** `DATABASE_POOL_MAX`: maximum connections per pool. @default 10 */
  databasePoolMax: setting('DATABASE_POOL_MAX', integer(1, 1_000).default(10)),
  /** `DATABASE_CONNECT_TIMEOUT_MS`: how long to wait for a new connection. @default 2000 */
  databaseConnectTimeoutMs: setting('DATABASE_CONNECT_TIMEOUT_MS', integer(100, 600_000).default(2_000)),
  /** `STARTUP_DATABASE_TIMEOUT_MS`: how long start-up waits for the database to answer before giving up. @default 30000 */
  startupDatabaseTimeoutMs: setting('STARTUP_DATABASE_TIMEOUT_MS', integer(0, 3_600_000).default(30_000)),
  /** `EMBEDDED_POSTGRES_DIR`: data folder of the embedded Postgres. @default ".pgdata" */
  embeddedPostgresDir: setting('EMBEDDED_POSTGRES_DIR', z.string().min(1).default('.pgdata')),
  /** `EMBEDDED_POSTGRES_PORT`: port of the embedded Postgres (loopback only). @default 54329 */
  embeddedPostgresPort: setting('EMBEDDED_POSTGRES_PORT', integer(1, 65_535).default(54_329)),
  /** `SEED_CUSTOMERS`: synthetic customers seeded into an empty embedded database. @default 100000 */
  seedCustomers: setting('SEED_CUSTOMERS', integer(0, 100_000_000).default(100_000)),
  /** `FEATURE_QUERY_TIMEOUT_MS`: Postgres `statement_timeout` for feature reads; below `requestTimeoutMs`. @default 500 */
  featureQueryTimeoutMs: setting('FEATURE_QUERY_TIMEOUT_MS', integer(1, 600_000).default(500)),
  /** `FEATURE_BREAKER_ERROR_PERCENT`: failure percentage that opens the feature-store breaker. @default 50 */
  featureBreakerErrorPercent: setting('FEATURE_BREAKER_ERROR_PERCENT', integer(1, 100).default(50)),
  /** `FEATURE_BREAKER_VOLUME_THRESHOLD`: minimum lookups in the window before the breaker may open. @default 5 */
  featureBreakerVolumeThreshold: setting(
    'FEATURE_BREAKER_VOLUME_THRESHOLD',
    integer(0, 1_000_000).default(5),
  ),
  /** `FEATURE_BREAKER_RESET_MS`: how long the breaker stays open before letting a probe through. @default 5000 */
  featureBreakerResetMs: setting('FEATURE_BREAKER_RESET_MS', integer(100, 3_600_000).default(5_000)),
  /** `FEATURE_FALLBACK`: what by-id scoring does when the store is unavailable: `none` (UNAVAILABLE) or `population-mean`. @default "none" */
  featureFallback: setting('FEATURE_FALLBACK', z.enum(['none', 'population-mean']).default('none')),
  /**
   * `FEATURE_BATCH_QUERIES`: feature queries batch streams may run at once; the pool's other connections
   * stay free for online calls, and batch ids arriving meanwhile go out together in the next query. @default 2
   */
  featureBatchQueries: setting('FEATURE_BATCH_QUERIES', integer(1, 1_000).default(2)),
  /** `MODEL_REPOSITORY_DIR`: the file-system model repository that seeds the registry. @default "models" */
  modelRepositoryDir: setting('MODEL_REPOSITORY_DIR', z.string().min(1).default('models')),
  /** `MODEL_REGISTRY_SEED`: register the repository's versions the registry lacks at start-up. @default true */
  modelRegistrySeed: setting('MODEL_REGISTRY_SEED', z.stringbool().default(true)),
  /** `MODEL_WARM_VERSIONS`: besides the default and previous versions, the newest N stay loaded. @default 2 */
  modelWarmVersions: setting('MODEL_WARM_VERSIONS', integer(0, 100).default(2)),
  /**
   * `MODEL_PINNED_VERSIONS`: at most this many other versions of a model stay loaded after requests pinned
   * them (the least recently pinned is unloaded first). @default 4
   */
  modelPinnedVersions: setting('MODEL_PINNED_VERSIONS', integer(0, 100).default(4)),
  /**
   * `MODEL_VALIDATION_TIMEOUT_MS`: how long a new model version's session creation and warm-up may take in
   * the isolated validation process before the version is marked failed. @default 10000
   */
  modelValidationTimeoutMs: setting('MODEL_VALIDATION_TIMEOUT_MS', integer(100, 600_000).default(10_000)),
  /**
   * `MODEL_VALIDATION_MAX_RSS_MB`: resident memory (MiB, ONNX Runtime's included) the validation process may
   * reach before the version is marked failed; keep it below the pod's memory limit minus the server's own.
   * @default 384
   */
  modelValidationMaxRssMb: setting('MODEL_VALIDATION_MAX_RSS_MB', integer(64, 65_536).default(384)),
  /** `MAX_CUSTOMERS_PER_REQUEST`: customers allowed in one Score call or stream chunk. @default 1000 */
  maxCustomersPerRequest: setting('MAX_CUSTOMERS_PER_REQUEST', integer(1, 100_000).default(1_000)),
  /** `MAX_MESSAGE_BYTES`: largest gRPC message received or sent; larger ones get RESOURCE_EXHAUSTED. @default 4194304 */
  maxMessageBytes: setting('MAX_MESSAGE_BYTES', integer(1_024, 256 * 1024 * 1024).default(4 * 1024 * 1024)),
  /**
   * `MAX_MODEL_MESSAGE_BYTES`: largest RegisterModelVersion request (the model's bytes); every other request is
   * held to MAX_MESSAGE_BYTES, and health checks and reflection to 64 KiB. @default 67108864
   */
  maxModelMessageBytes: setting(
    'MAX_MODEL_MESSAGE_BYTES',
    integer(1_024, 1024 * 1024 * 1024).default(64 * 1024 * 1024),
  ),
  /**
   * `MAX_STREAMS`: stream calls open at once (ScoreStream, ModelStreamInfer, health Watch, reflection);
   * the next one gets RESOURCE_EXHAUSTED. @default 1000
   */
  maxStreams: setting('MAX_STREAMS', integer(1, 1_000_000).default(1_000)),
  /** `REQUEST_TIMEOUT_MS`: server-side cap on a unary call, whatever deadline the client sent. @default 5000 */
  requestTimeoutMs: setting('REQUEST_TIMEOUT_MS', integer(1, 3_600_000).default(5_000)),
  /** `MAX_BATCH_ROWS`: rows in one ONNX Runtime run when concurrent requests are micro-batched. @default 256 */
  maxBatchRows: setting('MAX_BATCH_ROWS', integer(1, 100_000).default(256)),
  /** `MAX_BATCH_DELAY_MICROS`: how long a run waits for more requests; 0 = only those of the same tick. @default 0 */
  maxBatchDelayMicros: setting('MAX_BATCH_DELAY_MICROS', integer(0, 1_000_000).default(0)),
  /** `STREAM_CHUNKS_IN_FLIGHT`: chunks of one ScoreStream processed concurrently. @default 4 */
  streamChunksInFlight: setting('STREAM_CHUNKS_IN_FLIGHT', integer(1, 256).default(4)),
  /**
   * `BATCH_LANE_MAX_HOLD_MS`: longest a batch-stream step waits while online calls are being scored
   * (see `scheduling/work-scheduler.ts`); higher favours online latency, lower batch throughput. @default 5
   */
  batchLaneMaxHoldMs: setting('BATCH_LANE_MAX_HOLD_MS', integer(0, 10_000).default(5)),
  /** `CUSTOMER_ID_PATTERN`: regular expression every customer id must match. @default "^[A-Za-z0-9_.:-]{1,64}$" */
  customerIdPattern: setting(
    'CUSTOMER_ID_PATTERN',
    z
      .string()
      .default('^[A-Za-z0-9_.:-]{1,64}$')
      .transform((pattern, ctx) => {
        try {
          return new RegExp(pattern);
        } catch (error) {
          ctx.addIssue({ code: 'custom', message: `not a regular expression: ${String(error)}` });
          return z.NEVER;
        }
      }),
  ),
  /** `SHUTDOWN_GRACE_MS`: how long in-flight calls may drain after SIGTERM before they are cancelled. @default 10000 */
  shutdownGraceMs: setting('SHUTDOWN_GRACE_MS', integer(0, 3_600_000).default(10_000)),
  /**
   * `SHUTDOWN_DRAIN_DELAY_MS`: after SIGTERM, health turns NOT_SERVING at once but calls are still taken
   * for this long ("lame duck"), so that load balancers and health-checking clients move away before the
   * port closes; part of `shutdownGraceMs`, and below it. 0 suits Kubernetes, where the preStop sleep
   * already waits for endpoint removal. @default 0
   */
  shutdownDrainDelayMs: setting('SHUTDOWN_DRAIN_DELAY_MS', integer(0, 3_600_000).default(0)),
  /** `MAX_CONNECTION_AGE_MS`: connections are closed (GOAWAY) after this age so new pods get traffic. @default 300000 */
  maxConnectionAgeMs: setting('MAX_CONNECTION_AGE_MS', integer(1_000, 2_147_483_647).default(300_000)),
  /** `MAX_CONNECTION_AGE_GRACE_MS`: time calls on an aged connection get to finish. @default 30000 */
  maxConnectionAgeGraceMs: setting('MAX_CONNECTION_AGE_GRACE_MS', integer(0, 2_147_483_647).default(30_000)),
  /**
   * `METRICS_ENABLED`: export Prometheus metrics (the per-call middleware and the `/metrics` endpoint). Off
   * is for measuring their cost; internal counters still tick. @default true
   */
  metricsEnabled: setting('METRICS_ENABLED', z.stringbool().default(true)),
  /** `METRICS_HOST`: interface the Prometheus `/metrics` endpoint binds to. @default as GRPC_HOST */
  metricsHost: setting('METRICS_HOST', z.string().min(1).optional()),
  /** `METRICS_PORT`: port of the Prometheus `/metrics` endpoint; 0 picks a free port. @default 9464 */
  metricsPort: setting('METRICS_PORT', integer(0, 65_535).default(9_464)),
  /** `OTEL_EXPORTER_OTLP_ENDPOINT`: OTLP/gRPC collector for traces (e.g. Jaeger's :4317); unset = tracing off. */
  otlpEndpoint: setting('OTEL_EXPORTER_OTLP_ENDPOINT', z.url({ protocol: /^https?$/ }).optional()),
  /** `TRACE_SAMPLE_RATIO`: share of new traces sampled (0..1); calls with a sampled parent are always traced. @default 0.1 */
  traceSampleRatio: setting('TRACE_SAMPLE_RATIO', z.coerce.number().min(0).max(1).default(0.1)),
  /** `DRIFT_WINDOW`: served feature rows per drift window; PSI is computed over the last full window. @default 10000 */
  driftWindow: setting('DRIFT_WINDOW', integer(100, 100_000_000).default(10_000)),
  /** `AUDIT_SAMPLE_RATE`: share of Score calls whose predictions go to the audit log (0 = off). @default 1 */
  auditSampleRate: setting('AUDIT_SAMPLE_RATE', z.coerce.number().min(0).max(1).default(1)),
  /** `AUDIT_MAX_BUFFERED_ROWS`: audit rows held in memory while the database lags; beyond it the oldest are dropped. @default 100000 */
  auditMaxBufferedRows: setting('AUDIT_MAX_BUFFERED_ROWS', integer(1, 100_000_000).default(100_000)),
  /** `AUDIT_FLUSH_INTERVAL_MS`: how often queued audit rows are written. @default 250 */
  auditFlushIntervalMs: setting('AUDIT_FLUSH_INTERVAL_MS', integer(10, 600_000).default(250)),
  /**
   * `AUDIT_SPILL_DIR`: local directory where audit rows go when the in-memory buffer overflows or shutdown
   * cannot write them (database down), replayed once the database is back and at the next start. One
   * directory per process. Unset = no spill (rows beyond the buffer are dropped): the directory must be
   * private to this replica and outlive a container restart, which is a deployment decision (an emptyDir
   * of its own, sized above `auditSpillMaxBytes`), not something a default under /tmp could promise.
   * @default unset
   */
  auditSpillDir: setting('AUDIT_SPILL_DIR', z.string().trim().min(1).optional()),
  /** `AUDIT_SPILL_MAX_BYTES`: bytes the spill directory may hold; rows beyond it are dropped. @default 268435456 (256 MiB) */
  auditSpillMaxBytes: setting(
    'AUDIT_SPILL_MAX_BYTES',
    integer(1_024, Number.MAX_SAFE_INTEGER).default(256 * 1024 * 1024),
  ),
  /** `LOG_LEVEL`: pino level (`fatal`..`trace`, or `silent`). @default "info" */
  logLevel: setting(
    'LOG_LEVEL',
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ),
};
type Settings = typeof settings;
type SettingValues = { readonly [Field in keyof Settings]: z.output<Settings[Field]['schema']> };

/**
 * The server's configuration, parsed once from the environment at start-up, validated and frozen: the
 * {@link settings}, then TLS/authentication (`security-config.ts`) and Vault (`vault-config.ts`).
 */
export type Config = Omit<SettingValues, 'grpcHost' | 'metricsHost'> & {
  readonly grpcHost: string;
  readonly metricsHost: string;
  /** TLS, authentication, authorization limits (see `security-config.ts`). */
  readonly security: SecurityConfig;
  /** Vault, when VAULT_ADDR is set (see `vault-config.ts`). */
  readonly vault: VaultConfig | undefined;
};

/** The settings' schemas keyed by their variables' names. */
type EnvironmentShape = { [Field in keyof Settings as Settings[Field]['env']]: Settings[Field]['schema'] };

/** Environment variables by name, with their defaults. The keys are the documented variable names. */
export const environmentSchema = z.object({
  ...(Object.fromEntries(
    Object.values(settings).map(({ env, schema }) => [env, schema]),
  ) as EnvironmentShape),
  ...securityEnvironment,
  ...vaultEnvironment,
});

/**
 * Parses and validates the configuration from environment variables.
 *
 * `serving: false` is for the tools that only talk to the database (`npm run migrate`, `npm run seed`):
 * they serve nothing, so they do not require GRPC_TLS and AUTH_MODE to be chosen.
 *
 * @throws ConfigError naming every invalid variable, e.g. `GRPC_PORT: Too big: expected number to be <=65535`.
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: { serving: boolean } = { serving: true },
): Config {
  const known = Object.fromEntries(
    Object.keys(environmentSchema.shape).map((name) => [name, env[name] === '' ? undefined : env[name]]),
  );
  const parsed = environmentSchema.safeParse(known);
  if (!parsed.success) throw environmentError(parsed.error, env);
  const e = parsed.data;
  const problems: string[] = [];
  if (e.FEATURE_QUERY_TIMEOUT_MS >= e.REQUEST_TIMEOUT_MS) {
    problems.push(
      `FEATURE_QUERY_TIMEOUT_MS: must be below REQUEST_TIMEOUT_MS (${e.REQUEST_TIMEOUT_MS}), got ${e.FEATURE_QUERY_TIMEOUT_MS}`,
    );
  }
  if (e.SHUTDOWN_DRAIN_DELAY_MS > 0 && e.SHUTDOWN_DRAIN_DELAY_MS >= e.SHUTDOWN_GRACE_MS) {
    problems.push(
      `SHUTDOWN_DRAIN_DELAY_MS: must be below SHUTDOWN_GRACE_MS (${e.SHUTDOWN_GRACE_MS}), got ${e.SHUTDOWN_DRAIN_DELAY_MS}`,
    );
  }
  const databaseUrl =
    e.DATABASE_URL_FILE === undefined ? e.DATABASE_URL : readUrlFile(e.DATABASE_URL_FILE, problems);
  if (e.DATABASE_URL !== undefined && e.DATABASE_URL_FILE !== undefined) {
    problems.push('DATABASE_URL, DATABASE_URL_FILE: set at most one');
  }
  const security = parseSecurityConfig(
    e,
    { embedded: databaseUrl === undefined || !options.serving },
    problems,
  );
  const vault = parseVaultConfig({ ...e, DATABASE_URL: databaseUrl }, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  const values = Object.fromEntries(
    Object.entries(settings).map(([field, { env }]) => [field, e[env as keyof typeof e]]),
  ) as SettingValues;
  // The quick start (no DATABASE_URL) listens on loopback only: with AUTH_MODE=none every caller is admin.
  const defaultHost = databaseUrl === undefined ? '127.0.0.1' : '0.0.0.0';
  return Object.freeze({
    ...values,
    grpcHost: values.grpcHost ?? defaultHost,
    metricsHost: values.metricsHost ?? defaultHost,
    databaseUrl,
    security,
    vault,
  });
}

/**
 * Reads a connection string from `DATABASE_URL_FILE` (never echoing its content in a message).
 *
 * @returns the URL, or undefined after pushing what is wrong onto `problems`.
 */
export function readUrlFile(path: string, problems: string[]): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (error) {
    problems.push(
      `DATABASE_URL_FILE: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
    return undefined;
  }
  if (!optionalUrl.safeParse(text).success || text === '') {
    problems.push(`DATABASE_URL_FILE: ${path} does not hold a postgres:// URL (content hidden)`);
    return undefined;
  }
  return text;
}

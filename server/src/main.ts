/**
 * The composition root: reads the configuration, creates every resource in order, starts the gRPC
 * server and installs the shutdown sequence. Nothing else creates process-wide resources.
 *
 * `npm start` runs this file; tests call {@link startServer} with their own configuration.
 */
import { pathToFileURL } from 'node:url';
import { createAuditSpill } from './audit/audit-spill.js';
import { createPredictionAuditLog } from './audit/prediction-audit-log.js';
import { ConfigError, loadConfig, type Config } from './config/config.js';
import { sampleBatchFreshness } from './db/batch-freshness.js';
import { createDatabasePools } from './db/database-pools.js';
import { prepareDefaultDatabase } from './db/default-database.js';
import { waitForDatabase } from './db/wait-for-database.js';
import { createFeatureStore } from './features/feature-store.js';
import { startGrpcServer } from './grpc/grpc-server.js';
import { createHealth } from './grpc/health.js';
import { DriftMonitor } from './inference/drift-monitor.js';
import { InferenceStatistics } from './inference/inference-statistics.js';
import { ModelCatalog } from './inference/model-catalog.js';
import { createClosers, type Closers } from './lifecycle/closers.js';
import { Lifecycle } from './lifecycle/lifecycle.js';
import { StartupError } from './lifecycle/startup-error.js';
import { followRegistry } from './registry/follow-registry.js';
import { createRegistryRepositoryControl } from './registry/registry-repository-control.js';
import { seedRegistryFromFiles } from './registry/seed-registry.js';
import { WorkScheduler } from './scheduling/work-scheduler.js';
import { databaseCredentials } from './secrets/database-credentials.js';
import { startVault } from './secrets/start-vault.js';
import { createInferenceService } from './services/inference-service.js';
import { createModelAdminService } from './services/model-admin-service.js';
import { createModelInfer } from './services/model-infer.js';
import { createScorer } from './services/scorer.js';
import { createScoringService } from './services/scoring-service.js';
import { startSecurity } from './security/start-security.js';
import { createLogger, type Logger } from './telemetry/logger.js';
import { createMetrics } from './telemetry/metrics.js';
import { startMetricsServer } from './telemetry/metrics-server.js';
import { startTracing } from './telemetry/tracing.js';

/** A started server. */
export interface RunningServer {
  /** The bound gRPC port. */
  readonly port: number;
  /** The bound port of `GET /metrics` (undefined with METRICS_ENABLED=false). */
  readonly metricsPort: number | undefined;
  /** The bound plaintext health port, when HEALTH_PORT is set. */
  readonly healthPort: number | undefined;
  readonly lifecycle: Lifecycle;
  /** Runs the shutdown sequence (drain, stop, close); resolves when everything is closed. */
  shutdown(): Promise<void>;
}

/**
 * Starts the server and resolves once it is SERVING.
 *
 * Order: the port opens first (health NOT_SERVING, so Kubernetes sees a live process while models load),
 * then the embedded database starts if there is no DATABASE_URL (migrated and seeded), the models load
 * and warm up, the feature registry is checked against the models, and health turns SERVING.
 *
 * @throws when any step fails; everything already started is closed first.
 */
export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const startedAt = performance.now();
  const lifecycle = new Lifecycle();
  // The shutdown sequence: each resource's close is registered as soon as the resource exists, and
  // closeAll() runs them in reverse, so the order of creation in `assemble` is the shutdown order reversed:
  // the drain delay, then the gRPC server (in-flight calls finish), then the audit flush, before anything
  // the handlers use closes; credential rotation stops before the pools close; the pools close before the
  // embedded Postgres stops; `stopped` comes last. Reordering creation reorders shutdown.
  const closers = createClosers(logger);
  closers.register('stopped', () => lifecycle.markStopped());
  try {
    const { models, ...ports } = await assemble(config, { logger, lifecycle, closers });
    lifecycle.markServing();
    logger.info(
      {
        port: ports.port,
        startupMs: Math.round(performance.now() - startedAt),
        models,
        database: config.databaseUrl === undefined ? 'embedded' : 'external',
      },
      'serving',
    );
    return { ...ports, lifecycle, shutdown: () => closers.closeAll() };
  } catch (error) {
    await closers.closeAll();
    throw error;
  }
}

/** Creates every resource in order, registering each one's close, and waits until it can serve. */
async function assemble(
  config: Config,
  deps: { logger: Logger; lifecycle: Lifecycle; closers: Closers },
): Promise<Pick<RunningServer, 'port' | 'metricsPort' | 'healthPort'> & { models: string[] }> {
  const { logger, lifecycle, closers } = deps;
  const metrics = createMetrics();
  const tracing = startTracing({
    endpoint: config.otlpEndpoint,
    sampleRatio: config.traceSampleRatio,
    serviceName: 'customer-intelligence',
    logger,
  });
  closers.register('tracing', () => tracing.shutdown());
  const { tracer } = tracing;
  const embedded =
    config.databaseUrl === undefined ? await prepareDefaultDatabase(config, logger) : undefined;
  if (embedded !== undefined) {
    closers.register('embedded postgres', () => embedded.close(), { timeoutMs: 15_000 });
  }
  // Vault first: the secrets (files for TLS and keys, database credentials) must exist before anything
  // that reads them.
  const vault =
    config.vault === undefined
      ? undefined
      : await startVault(config.vault, config.databaseUrl, { logger, metrics });
  if (vault !== undefined) closers.register('vault', () => vault.stop());
  const credentials = databaseCredentials(config, { vault, embeddedUrl: embedded?.url, logger });
  const pools = createDatabasePools(config, credentials, { logger, metrics });
  closers.register('database pools', () => pools.close(), { timeoutMs: 10_000 });
  // Rotated credentials reach both pools, which switch without failing calls. Registered after the pools,
  // so it stops before they close: a late rotation must not open a pool that nothing would end.
  closers.register(
    'credential rotation',
    credentials.follow((url) => pools.rotate(url)),
  );
  sampleBatchFreshness({ pool: pools.primary, metrics, logger });
  const featureStore = createFeatureStore(
    { pool: pools.features, logger, metrics },
    {
      breakerErrorPercent: config.featureBreakerErrorPercent,
      breakerVolumeThreshold: config.featureBreakerVolumeThreshold,
      breakerResetMs: config.featureBreakerResetMs,
    },
  );
  closers.register('feature store', () => featureStore.close());
  const catalog = new ModelCatalog();
  closers.register('models', () => catalog.close());
  const drift = new DriftMonitor(config.driftWindow);
  metrics.addSampler(() => {
    for (const { model, version, feature, psi } of drift.report()) {
      metrics.featureDriftPsi.set({ model, version, feature }, psi);
    }
  });
  const scheduler = new WorkScheduler(
    {
      maxBatchRows: config.maxBatchRows,
      maxDelayMicros: config.maxBatchDelayMicros,
      maxHoldMs: config.batchLaneMaxHoldMs,
      maxBatchQueries: config.featureBatchQueries,
    },
    { metrics, features: { store: featureStore, tracer } },
  );
  const scorer = createScorer({
    catalog,
    featureStore,
    drift,
    scheduler,
    metrics,
    tracer: tracing.enabled ? tracer : undefined,
    config,
  });
  const health = createHealth({ lifecycle, featureStore, catalog });
  // The model registry is the source of truth for what every replica serves; this replica follows it.
  const { registry, sync: registrySync } = followRegistry(
    { pool: pools.primary, catalog, logger, metrics, closers },
    {
      warmVersions: config.modelWarmVersions,
      pinnedVersions: config.modelPinnedVersions,
      validation: { timeoutMs: config.modelValidationTimeoutMs, maxRssMb: config.modelValidationMaxRssMb },
    },
  );
  const admin = createModelAdminService({ registry, sync: registrySync, logger });

  const security = await startSecurity(config, { logger, closers });
  // Started before the gRPC server so that it closes after it: /metrics answers through the drain.
  const metricsServer = config.metricsEnabled
    ? await startMetricsServer({ metrics, host: config.metricsHost, port: config.metricsPort, logger })
    : undefined;
  if (metricsServer !== undefined) closers.register('metrics server', () => metricsServer.close());
  const audit = createPredictionAuditLog(
    { pool: pools.primary, logger, metrics, tracer },
    {
      maxBufferedRows: config.auditMaxBufferedRows,
      flushIntervalMs: config.auditFlushIntervalMs,
      spill:
        config.auditSpillDir === undefined
          ? undefined
          : createAuditSpill({ logger }, { dir: config.auditSpillDir, maxBytes: config.auditSpillMaxBytes }),
    },
  );
  // Created last before the gRPC server, so it flushes right after the last call has finished, and through
  // the primary pool before the pools close (test/integration/audit-log.test.ts).
  closers.register('prediction audit log', () => audit.close(), { timeoutMs: 10_000 });
  const scoring = createScoringService({
    scorer,
    catalog,
    lifecycle,
    logger,
    audit,
    scheduler,
    limits: security.limits,
    config,
  });
  // The Open Inference Protocol (V2); RepositoryModelLoad/Unload switch models on and off in the registry.
  const statistics = new InferenceStatistics();
  const inference = createInferenceService({
    catalog,
    lifecycle,
    logger,
    repository: createRegistryRepositoryControl({ registry, sync: registrySync, catalog }),
    modelInfer: createModelInfer({ catalog, drift, scheduler, tracer, statistics, audit, config }),
    statistics,
    limits: security.limits,
    config,
  });
  const grpc = await startGrpcServer({
    config,
    credentials: security.credentials,
    authentication: security.authentication,
    limits: security.limits,
    scoring,
    inference,
    admin,
    health,
    lifecycle,
    logger,
    metrics,
    tracer,
    tracingEnabled: tracing.enabled,
  });
  // The drain delay is part of the grace: SIGTERM to cancelled calls stays within SHUTDOWN_GRACE_MS.
  closers.register('grpc server', () => grpc.shutdown(config.shutdownGraceMs - config.shutdownDrainDelayMs), {
    timeoutMs: config.shutdownGraceMs + 5_000,
  });
  // Registered last, so it runs first: health turns NOT_SERVING while calls are still taken for the drain
  // delay, and only then does the gRPC server stop taking them.
  closers.register('drain', () => lifecycle.beginDrain(config.shutdownDrainDelayMs), {
    timeoutMs: config.shutdownDrainDelayMs + 5_000,
  });
  logger.info(
    { port: grpc.port, host: config.grpcHost, metricsPort: metricsServer?.port },
    'gRPC port open; starting',
  );

  await embedded?.start(pools.primary);
  await waitForDatabase(pools.primary, { timeoutMs: config.startupDatabaseTimeoutMs, logger });
  if (config.modelRegistrySeed) await seedRegistryFromFiles(registry, config.modelRepositoryDir, logger);
  await registrySync.start();
  await featureStore.start(catalog.requiredFeatures());
  return {
    port: grpc.port,
    metricsPort: metricsServer?.port,
    healthPort: grpc.healthPort,
    models: catalog.list().map((m) => `${m.name}@${m.defaultVersion}`),
  };
}

/** Runs the server as the process's main program: exit code 0 after a clean shutdown, 1 on failure. */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`customer-intelligence: ${error.message}\n`);
    process.exit(1);
  }
  const logger = createLogger({ level: config.logLevel });
  let server: RunningServer;
  try {
    server = await startServer(config, logger);
  } catch (error) {
    // A failure the user can fix is one line, like a ConfigError; anything else is logged with its stack.
    if (error instanceof StartupError) process.stderr.write(`customer-intelligence: ${error.message}\n`);
    else logger.fatal({ err: error }, 'start-up failed');
    process.exit(1);
  }
  const stop = (signal: NodeJS.Signals) => {
    logger.info({ signal, inFlight: server.lifecycle.inFlight }, 'shutting down');
    void server.shutdown().then(() => {
      logger.info('stopped');
      process.exit(0);
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();

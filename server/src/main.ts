/**
 * The composition root: reads the configuration, creates every resource in order, starts the gRPC
 * server and installs the shutdown sequence. Nothing else creates process-wide resources.
 *
 * `npm start` runs this file; tests call {@link startServer} with their own configuration.
 */
import { pathToFileURL } from 'node:url';
import type pg from 'pg';
import { seedIfEmpty } from './demo-data/seed.js';
import { createAuditSpill } from './audit/audit-spill.js';
import { createPredictionAuditLog } from './audit/prediction-audit-log.js';
import { ConfigError, loadConfig, type Config } from './config/config.js';
import { prepareEmbeddedPostgres, type EmbeddedPostgres } from './db/embedded-postgres.js';
import { migrate } from './db/migrate.js';
import { watchDatabaseUrlFile } from './db/database-url-file.js';
import { closePool, createPool } from './db/pool.js';
import { RotatingPool, type DatabasePool } from './db/rotating-pool.js';
import { waitForDatabase } from './db/wait-for-database.js';
import { createFeatureStore } from './features/feature-store.js';
import { startGrpcServer, type GrpcServer } from './grpc/grpc-server.js';
import { createHealth } from './grpc/health.js';
import { DriftMonitor } from './inference/drift-monitor.js';
import { ModelCatalog } from './inference/model-catalog.js';
import { Lifecycle } from './lifecycle/lifecycle.js';
import { ModelRegistry } from './registry/model-registry.js';
import { createRegistryRepositoryControl } from './registry/registry-repository-control.js';
import { RegistrySync } from './registry/registry-sync.js';
import { seedRegistryFromFiles } from './registry/seed-registry.js';
import { createShutdown } from './lifecycle/shutdown.js';
import { WorkScheduler } from './scheduling/work-scheduler.js';
import { createInferenceService } from './services/inference-service.js';
import { createModelAdminService } from './services/model-admin-service.js';
import { createModelInfer } from './services/model-infer.js';
import { createScorer } from './services/scorer.js';
import { createScoringService } from './services/scoring-service.js';
import { startVault } from './secrets/start-vault.js';
import { ApiKeyAuthenticator } from './security/api-key-authenticator.js';
import { readApiKeyFile, watchApiKeyFile } from './security/api-key-file.js';
import { JwtAuthenticator } from './security/jwt-authenticator.js';
import { createServerCredentials } from './security/server-credentials.js';
import { createLogger, type Logger } from './telemetry/logger.js';
import { createMetrics, type Metrics } from './telemetry/metrics.js';
import { startMetricsServer, type MetricsServer } from './telemetry/metrics-server.js';
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
  const metrics = createMetrics();
  const tracing = startTracing({
    endpoint: config.otlpEndpoint,
    sampleRatio: config.traceSampleRatio,
    serviceName: 'customer-intelligence',
    logger,
  });
  const { tracer } = tracing;
  const embedded: EmbeddedPostgres | undefined =
    config.databaseUrl === undefined
      ? await prepareEmbeddedPostgres({
          dir: config.embeddedPostgresDir,
          port: config.embeddedPostgresPort,
          logger,
        })
      : undefined;
  // Vault first: the secrets (files for TLS and keys, database credentials) must exist before anything
  // that reads them. Rotated database credentials reach both pools, which switch without failing calls.
  const vault =
    config.vault === undefined
      ? undefined
      : await startVault(config.vault, config.databaseUrl, {
          logger,
          metrics,
          onDatabaseRotation: async (url) => {
            await Promise.all([primaryPool.rotate(url), featurePool.rotate(readUrl(url))]);
          },
        });
  const databaseUrl = vault?.databaseUrl ?? config.databaseUrl ?? embedded!.url;
  /** The read replica gets the same (possibly rotating) credentials as the primary. */
  const readUrl = (primaryUrl: string): string => {
    if (config.databaseReadUrl === undefined) return primaryUrl;
    if (vault?.databaseUrl === undefined && config.databaseUrlFile === undefined)
      return config.databaseReadUrl;
    const [primary, replica] = [new URL(primaryUrl), new URL(config.databaseReadUrl)];
    replica.username = primary.username;
    replica.password = primary.password;
    return replica.toString();
  };
  const poolOptions = {
    max: config.databasePoolMax,
    connectTimeoutMs: config.databaseConnectTimeoutMs,
    logger,
  };
  const primaryPool = new RotatingPool(
    (connectionString) => createPool({ ...poolOptions, connectionString, applicationName: 'ci-server' }),
    databaseUrl,
    logger,
  );
  const featurePool = new RotatingPool(
    (connectionString) =>
      createPool({
        ...poolOptions,
        connectionString,
        applicationName: 'ci-server-features',
        statementTimeoutMs: config.featureQueryTimeoutMs,
      }),
    readUrl(databaseUrl),
    logger,
  );
  const stopUrlWatch =
    config.databaseUrlFile === undefined
      ? () => undefined
      : watchDatabaseUrlFile(
          config.databaseUrlFile,
          databaseUrl,
          async (url) => {
            await Promise.all([primaryPool.rotate(url), featurePool.rotate(readUrl(url))]);
          },
          { intervalMs: 1_000, logger },
        );
  const featureStore = createFeatureStore(
    { pool: featurePool, logger, metrics, tracer },
    {
      breakerErrorPercent: config.featureBreakerErrorPercent,
      breakerVolumeThreshold: config.featureBreakerVolumeThreshold,
      breakerResetMs: config.featureBreakerResetMs,
      maxBatchQueries: config.featureBatchQueries,
    },
  );
  const catalog = new ModelCatalog();
  const drift = new DriftMonitor(config.driftWindow);
  const scheduler = new WorkScheduler(
    {
      maxBatchRows: config.maxBatchRows,
      maxDelayMicros: config.maxBatchDelayMicros,
      maxHoldMs: config.batchLaneMaxHoldMs,
    },
    metrics,
  );
  const scorer = createScorer({ catalog, featureStore, drift, scheduler, metrics, tracer, config });
  addSamplers(metrics, { pools: { primary: primaryPool, features: featurePool }, drift, logger });
  const health = createHealth({ lifecycle, featureStore, catalog });
  const audit = createPredictionAuditLog(
    { pool: primaryPool, logger, metrics, tracer },
    {
      maxBufferedRows: config.auditMaxBufferedRows,
      flushIntervalMs: config.auditFlushIntervalMs,
      spill:
        config.auditSpillDir === undefined
          ? undefined
          : createAuditSpill({ logger }, { dir: config.auditSpillDir, maxBytes: config.auditSpillMaxBytes }),
    },
  );
  const scoring = createScoringService({ scorer, catalog, lifecycle, logger, audit, scheduler, config });
  // The model registry is the source of truth for what every replica serves; this replica follows it.
  const registry = new ModelRegistry(primaryPool);
  const registrySync = new RegistrySync(
    { registry, catalog, connectionString: () => primaryPool.connectionString, logger, metrics },
    { warmVersions: config.modelWarmVersions },
  );
  primaryPool.onRotate(() => {
    registrySync
      .restartListener()
      .catch((error: unknown) => logger.warn({ err: error }, 'registry listener restart failed'));
  });
  catalog.setOnDemandLoader((name, version) => {
    void registrySync
      .ensureLoaded(name, version)
      .then(() => registrySync.refresh(name))
      .catch(() => undefined);
  });
  const admin = createModelAdminService({ registry, sync: registrySync, logger });
  // The Open Inference Protocol (V2); RepositoryModelLoad/Unload switch models on and off in the registry.
  const inference = createInferenceService({
    catalog,
    lifecycle,
    logger,
    repository: createRegistryRepositoryControl({ registry, sync: registrySync, catalog }),
    modelInfer: createModelInfer({ catalog, drift, scheduler, tracer, config }),
  });

  let grpc: GrpcServer | undefined;
  let metricsServer: MetricsServer | undefined;
  let stopSecurity: (() => void) | undefined;
  const shutdown = createShutdown(
    [
      {
        name: 'drain',
        close: () => lifecycle.beginDrain(config.shutdownDrainDelayMs),
        timeoutMs: config.shutdownDrainDelayMs + 5_000,
      },
      {
        // The drain delay is part of the grace: SIGTERM to cancelled calls stays within SHUTDOWN_GRACE_MS.
        name: 'grpc server',
        close: () => grpc?.shutdown(config.shutdownGraceMs - config.shutdownDrainDelayMs),
        timeoutMs: config.shutdownGraceMs + 5_000,
      },
      { name: 'prediction audit log', close: () => audit.close(), timeoutMs: 10_000 },
      { name: 'metrics server', close: () => metricsServer?.close() },
      { name: 'security watchers', close: () => stopSecurity?.() },
      { name: 'vault', close: () => vault?.stop() },
      { name: 'database url watcher', close: () => stopUrlWatch() },
      { name: 'tracing', close: () => tracing.shutdown() },
      { name: 'feature store', close: () => featureStore.close() },
      { name: 'model registry', close: () => registrySync.close() },
      { name: 'models', close: () => catalog.close() },
      { name: 'feature pool', close: () => closePool(featurePool) },
      { name: 'primary pool', close: () => closePool(primaryPool) },
      { name: 'embedded postgres', close: () => embedded?.close(), timeoutMs: 15_000 },
      { name: 'stopped', close: () => lifecycle.markStopped() },
    ],
    logger,
  );

  try {
    const security = await startSecurity(config, logger);
    stopSecurity = security.stop;
    grpc = await startGrpcServer({
      config,
      credentials: security.credentials,
      authentication: security.authentication,
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
    if (config.metricsEnabled) {
      metricsServer = await startMetricsServer({
        metrics,
        host: config.metricsHost,
        port: config.metricsPort,
        logger,
      });
    }
    logger.info(
      { port: grpc.port, host: config.grpcHost, metricsPort: metricsServer?.port },
      'gRPC port open; starting',
    );
    if (embedded !== undefined) {
      await embedded.start();
      await migrate(databaseUrl, logger);
      await seedIfEmpty({ pool: primaryPool, count: config.seedCustomers, logger });
    }
    await waitForDatabase(primaryPool, { timeoutMs: config.startupDatabaseTimeoutMs, logger });
    if (config.modelRegistrySeed) await seedRegistryFromFiles(registry, config.modelRepositoryDir, logger);
    await registrySync.start();
    await featureStore.start(catalog.requiredFeatures());
  } catch (error) {
    await shutdown();
    throw error;
  }

  lifecycle.markServing();
  logger.info(
    {
      port: grpc.port,
      startupMs: Math.round(performance.now() - startedAt),
      models: catalog.list().map((m) => `${m.name}@${m.defaultVersion}`),
      database: embedded ? 'embedded' : 'external',
    },
    'serving',
  );
  return {
    port: grpc.port,
    metricsPort: metricsServer?.port,
    healthPort: grpc.healthPort,
    lifecycle,
    shutdown,
  };
}

/**
 * The gRPC port's credentials and the authenticators, with the watchers that reload rotated secrets.
 *
 * @throws when a TLS file, the API key file or the JWT key material cannot be read (before listening).
 */
async function startSecurity(config: Config, logger: Logger) {
  const { tls, auth } = config.security;
  const credentials = await createServerCredentials(tls);
  const apiKeys =
    auth.apiKeysFile === undefined ? undefined : new ApiKeyAuthenticator(readApiKeyFile(auth.apiKeysFile));
  const unwatch =
    apiKeys === undefined || auth.apiKeysFile === undefined
      ? () => undefined
      : watchApiKeyFile(auth.apiKeysFile, apiKeys, { intervalMs: auth.apiKeysReloadIntervalMs, logger });
  const jwt = auth.jwt === undefined ? undefined : await JwtAuthenticator.create(auth.jwt);
  logger.info(
    { tls: tls.mode, auth: auth.mode, apiKeys: apiKeys?.size ?? 0, jwt: auth.jwt?.keys.kind ?? 'off' },
    'security configured',
  );
  return { credentials, authentication: { mode: auth.mode, apiKeys, jwt }, stop: unwatch };
}

/** Gauges derived from state, refreshed at each scrape. */
function addSamplers(
  metrics: Metrics,
  sources: { pools: { primary: DatabasePool; features: DatabasePool }; drift: DriftMonitor; logger: Logger },
): void {
  metrics.addSampler(() => {
    for (const [name, pool] of Object.entries(sources.pools)) {
      metrics.poolConnections.set({ pool: name, state: 'total' }, pool.totalCount);
      metrics.poolConnections.set({ pool: name, state: 'idle' }, pool.idleCount);
      metrics.poolConnections.set({ pool: name, state: 'waiting' }, pool.waitingCount);
    }
  });
  metrics.addSampler(() => {
    for (const { model, version, feature, psi } of sources.drift.report()) {
      metrics.featureDriftPsi.set({ model, version, feature }, psi);
    }
  });
  // Batch freshness lives in the database (the batch jobs write batch_runs); a slow or absent database
  // must not hold up the scrape, hence the short query timeout.
  // pg honours a per-query `query_timeout`; @types/pg does not declare it.
  const lastSuccessQuery: pg.QueryConfig & { query_timeout: number } = {
    text: `SELECT model, extract(epoch FROM max(finished_at))::float8 AS finished
             FROM batch_runs WHERE status = 'succeeded' GROUP BY model`,
    query_timeout: 1_000,
  };
  metrics.addSampler(async () => {
    try {
      const { rows } = await sources.pools.primary.query<{ model: string; finished: number }>(
        lastSuccessQuery,
      );
      for (const row of rows) metrics.batchLastSuccess.set({ model: row.model }, row.finished);
    } catch (error) {
      sources.logger.debug({ err: error }, 'batch freshness not available');
    }
  });
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
    logger.fatal({ err: error }, 'start-up failed');
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

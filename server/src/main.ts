/**
 * The composition root: reads the configuration, creates every resource in order, starts the gRPC
 * server and installs the shutdown sequence. Nothing else creates process-wide resources.
 *
 * `npm start` runs this file; tests call {@link startServer} with their own configuration.
 */
import { pathToFileURL } from 'node:url';
import type pg from 'pg';
import { seedIfEmpty } from '../../batch/src/seed.js';
import { ConfigError, loadConfig, type Config } from './config/config.js';
import { prepareEmbeddedPostgres, type EmbeddedPostgres } from './db/embedded-postgres.js';
import { migrate } from './db/migrate.js';
import { closePool, createPool } from './db/pool.js';
import { waitForDatabase } from './db/wait-for-database.js';
import { createFeatureStore } from './features/feature-store.js';
import { startGrpcServer, type GrpcServer } from './grpc/grpc-server.js';
import { createHealth } from './grpc/health.js';
import { loadFileModelRepository } from './inference/file-model-repository.js';
import { ModelCatalog } from './inference/model-catalog.js';
import { Lifecycle } from './lifecycle/lifecycle.js';
import { createShutdown } from './lifecycle/shutdown.js';
import { createScorer } from './services/scorer.js';
import { createScoringService } from './services/scoring-service.js';
import { createLogger, type Logger } from './telemetry/logger.js';

/** A started server. */
export interface RunningServer {
  /** The bound gRPC port. */
  readonly port: number;
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
  const embedded: EmbeddedPostgres | undefined =
    config.databaseUrl === undefined
      ? await prepareEmbeddedPostgres({
          dir: config.embeddedPostgresDir,
          port: config.embeddedPostgresPort,
          logger,
        })
      : undefined;
  const databaseUrl = config.databaseUrl ?? embedded!.url;
  const poolOptions = {
    max: config.databasePoolMax,
    connectTimeoutMs: config.databaseConnectTimeoutMs,
    logger,
  };
  const primaryPool = createPool({
    ...poolOptions,
    connectionString: databaseUrl,
    applicationName: 'ci-server',
  });
  const featurePool: pg.Pool = createPool({
    ...poolOptions,
    connectionString: config.databaseReadUrl ?? databaseUrl,
    applicationName: 'ci-server-features',
    statementTimeoutMs: config.featureQueryTimeoutMs,
  });
  const featureStore = createFeatureStore(
    { pool: featurePool, logger },
    {
      breakerErrorPercent: config.featureBreakerErrorPercent,
      breakerVolumeThreshold: config.featureBreakerVolumeThreshold,
      breakerResetMs: config.featureBreakerResetMs,
    },
  );
  const catalog = new ModelCatalog();
  const scorer = createScorer({ catalog, featureStore, config });
  const health = createHealth({ lifecycle, featureStore });
  const scoring = createScoringService({ scorer, catalog, lifecycle, logger, config });

  let grpc: GrpcServer | undefined;
  const shutdown = createShutdown(
    [
      { name: 'drain', close: () => lifecycle.beginDrain() },
      {
        name: 'grpc server',
        close: () => grpc?.shutdown(config.shutdownGraceMs),
        timeoutMs: config.shutdownGraceMs + 5_000,
      },
      { name: 'feature store', close: () => featureStore.close() },
      { name: 'models', close: () => catalog.close() },
      { name: 'feature pool', close: () => closePool(featurePool) },
      { name: 'primary pool', close: () => closePool(primaryPool) },
      { name: 'embedded postgres', close: () => embedded?.close(), timeoutMs: 15_000 },
      { name: 'stopped', close: () => lifecycle.markStopped() },
    ],
    logger,
  );

  try {
    grpc = await startGrpcServer({ config, scoring, health, lifecycle, logger });
    logger.info({ port: grpc.port, host: config.grpcHost }, 'gRPC port open; starting');
    if (embedded !== undefined) {
      await embedded.start();
      await migrate(databaseUrl, logger);
      await seedIfEmpty({ pool: primaryPool, count: config.seedCustomers, logger });
    }
    await waitForDatabase(primaryPool, { timeoutMs: config.startupDatabaseTimeoutMs, logger });
    for (const model of await loadFileModelRepository(config.modelRepositoryDir)) catalog.set(model);
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
  return { port: grpc.port, lifecycle, shutdown };
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

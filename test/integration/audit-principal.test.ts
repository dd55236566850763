import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScoringClient } from '../../client/src/scoring-client.js';
import { hashApiKey } from '../../server/src/security/api-key-authenticator.js';
import { createV2Client } from '../helpers/v2-client.js';
import { hs256Token } from '../helpers/test-jwt.js';
import { startTestServer, type TestServer } from './setup/test-server.js';

/** Who called, as the audit trail records it, with authentication on. */
const keys = {
  scorer: 'test-scorer-key-0123456789abcdef',
  admin: 'test-admin-key-0123456789abcdef',
  alice: 'test-alice-key-0123456789abcdef',
};
const secret = randomBytes(48).toString('base64url');
let dir: string;
let server: TestServer;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-audit-principal-'));
  const apiKeysFile = path.join(dir, 'api-keys.json');
  await writeFile(
    apiKeysFile,
    JSON.stringify([
      { name: 'svc-online', sha256: hashApiKey(keys.scorer), roles: ['scorer'] },
      { name: 'ops-alice', sha256: hashApiKey(keys.admin), roles: ['admin'] },
      { name: 'alice', sha256: hashApiKey(keys.alice), roles: ['scorer'] },
    ]),
  );
  await writeFile(path.join(dir, 'jwt-secret'), secret);
  server = await startTestServer({
    AUTH_MODE: 'required',
    API_KEYS_FILE: apiKeysFile,
    JWT_HS256_SECRET_FILE: path.join(dir, 'jwt-secret'),
    JWT_ISSUER: 'https://issuer.test',
    JWT_AUDIENCE: 'customer-intelligence',
    AUDIT_FLUSH_INTERVAL_MS: '50',
  });
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

async function query<Row extends pg.QueryResultRow>(sql: string): Promise<Row[]> {
  const client = new pg.Client({ connectionString: server.databaseUrl });
  await client.connect();
  try {
    return (await client.query<Row>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('the audit trail with authentication on', () => {
  it('records the authenticated principal on every audited Score prediction', async () => {
    const client = createScoringClient(server.address, { retry: false, auth: { apiKey: keys.scorer } });
    try {
      await client.score({
        model: 'churn',
        modelVersion: '',
        customers: [
          { customerId: '11', features: {} },
          { customerId: '12', features: {} },
        ],
        reasonCodes: 0,
      });
    } finally {
      client.close();
    }
    await expect
      .poll(() =>
        query<{ principal: string | null }>(
          "SELECT principal FROM prediction_audit WHERE customer_id IN ('11', '12')",
        ),
      )
      .toEqual([{ principal: 'key:svc-online' }, { principal: 'key:svc-online' }]);
  });

  it('records who unloaded and loaded a model through the V2 repository extension', async () => {
    const v2 = createV2Client(server.address, { apiKey: keys.admin });
    try {
      await v2.repositoryModelUnload({
        repositoryName: '',
        modelName: 'clv',
        parameters: {},
      });
      await v2.repositoryModelLoad({ repositoryName: '', modelName: 'clv', parameters: {} });
    } finally {
      v2.close();
    }
    const events = await query<{ action: string; actor: string }>(
      "SELECT action, actor FROM model_registry_events WHERE model = 'clv' AND action LIKE 'kill-switch%' ORDER BY id",
    );
    expect(events.map((event) => event.actor)).toEqual(['key:ops-alice', 'key:ops-alice']);
  });

  it('tells an API key from a JWT subject of the same name', async () => {
    const token = await hs256Token(secret, 'alice', ['scorer']);
    const callers = {
      '21': createScoringClient(server.address, { retry: false, auth: { apiKey: keys.alice } }),
      '22': createScoringClient(server.address, { retry: false, auth: { bearerToken: token } }),
    };
    try {
      for (const [customerId, client] of Object.entries(callers)) {
        await client.score({
          model: 'churn',
          modelVersion: '',
          customers: [{ customerId, features: {} }],
          reasonCodes: 0,
        });
      }
    } finally {
      for (const client of Object.values(callers)) client.close();
    }
    await expect
      .poll(() =>
        query<{ customer_id: string; principal: string | null }>(
          "SELECT customer_id, principal FROM prediction_audit WHERE customer_id IN ('21', '22') ORDER BY customer_id",
        ),
      )
      .toEqual([
        { customer_id: '21', principal: 'key:alice' },
        { customer_id: '22', principal: 'jwt:alice' },
      ]);
  });
});

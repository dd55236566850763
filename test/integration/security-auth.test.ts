import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SignJWT } from 'jose';
import { Status } from 'nice-grpc';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createScoringClient,
  type ScoreStreamRequest,
  type ScoringClient,
} from '../../client/src/scoring-client.js';
import { hashApiKey } from '../../server/src/security/api-key-authenticator.js';
import { createHealthClient, ServingStatus } from '../helpers/health-client.js';
import { spawnServer, type ServerProcess } from '../helpers/server-process.js';
import { statusOf } from '../helpers/status-of.js';
import { cloneDatabase, dropDatabase } from '../helpers/test-postgres.js';

// The real server process with AUTH_MODE=required, API keys (hashes in a file) and HS256 JWTs. Every
// credential is generated here; the test then checks that none of them ever reached the logs.
const database = `test_auth_${randomBytes(4).toString('hex')}`;
let dir: string;
let server: ServerProcess;
let address: string;
const secret = randomBytes(48).toString('base64url');
const keys = {
  scorer: `ci_${randomBytes(24).toString('base64url')}`,
  batch: `ci_${randomBytes(24).toString('base64url')}`,
  nobody: `ci_${randomBytes(24).toString('base64url')}`,
  unknown: `ci_${randomBytes(24).toString('base64url')}`,
};
const tokens: Record<'valid' | 'expired' | 'wrongAudience' | 'noExpiry', string> = {
  valid: '',
  expired: '',
  wrongAudience: '',
  noExpiry: '',
};

async function jwt(claims: { audience: string; expiresAt: number }): Promise<string> {
  return new SignJWT({ roles: ['scorer', 'batch'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('svc-reporting')
    .setIssuer('https://issuer.test')
    .setAudience(claims.audience)
    .setIssuedAt(claims.expiresAt - 3_600)
    .setExpirationTime(claims.expiresAt)
    .sign(new TextEncoder().encode(secret));
}

beforeAll(async () => {
  const databaseUrl = await cloneDatabase(inject('postgresUrl'), inject('templateDatabase'), database);
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-auth-'));
  await writeFile(
    path.join(dir, 'api-keys.json'),
    JSON.stringify([
      { name: 'svc-online', sha256: hashApiKey(keys.scorer), roles: ['scorer'] },
      { name: 'job-batch', sha256: hashApiKey(keys.batch), roles: ['batch'] },
      { name: 'svc-nothing', sha256: hashApiKey(keys.nobody), roles: [] },
    ]),
  );
  await writeFile(path.join(dir, 'jwt-secret'), secret);
  const now = Math.floor(Date.now() / 1000);
  tokens.valid = await jwt({ audience: 'customer-intelligence', expiresAt: now + 600 });
  tokens.expired = await jwt({ audience: 'customer-intelligence', expiresAt: now - 600 });
  tokens.wrongAudience = await jwt({ audience: 'someone-else', expiresAt: now + 600 });
  tokens.noExpiry = await new SignJWT({ roles: ['scorer', 'batch'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('svc-reporting')
    .setIssuer('https://issuer.test')
    .setAudience('customer-intelligence')
    .setIssuedAt(now)
    .sign(new TextEncoder().encode(secret));
  server = spawnServer({
    DATABASE_URL: databaseUrl,
    GRPC_HOST: '127.0.0.1',
    GRPC_PORT: '0',
    GRPC_TLS: 'plaintext',
    AUTH_MODE: 'required',
    API_KEYS_FILE: path.join(dir, 'api-keys.json'),
    JWT_HS256_SECRET_FILE: path.join(dir, 'jwt-secret'),
    JWT_ISSUER: 'https://issuer.test',
    JWT_AUDIENCE: 'customer-intelligence',
    LOG_LEVEL: 'debug',
  });
  const serving = await server.waitForLog('serving');
  address = `127.0.0.1:${String(serving.port)}`;
});

afterAll(async () => {
  server?.child.kill('SIGTERM');
  await server?.exited;
  await rm(dir, { recursive: true, force: true });
  await dropDatabase(inject('postgresUrl'), database);
});

type Credential = { apiKey: string } | { bearerToken: string } | undefined;

/** Calls one RPC with one credential; returns the status name the client sees. */
/** What ListModels with this bearer token rejects with (undefined when it succeeds). */
async function listModelsError(bearerToken: string): Promise<unknown> {
  const client = createScoringClient(address, { retry: false, auth: { bearerToken } });
  try {
    await client.listModels({});
    return undefined;
  } catch (error) {
    return error;
  } finally {
    client.close();
  }
}

async function call(
  method: 'Score' | 'ScoreStream' | 'ListModels' | 'GetModel',
  credential: Credential,
): Promise<string> {
  const client: ScoringClient = createScoringClient(address, {
    retry: false,
    ...(credential && { auth: credential }),
  });
  const send = async () => {
    if (method === 'Score') {
      await client.score({
        model: 'churn',
        modelVersion: '',
        customers: [{ customerId: '1', features: {} }],
        reasonCodes: 0,
      });
    } else if (method === 'ListModels') {
      await client.listModels({});
    } else if (method === 'GetModel') {
      await client.getModel({ name: 'clv', version: '' });
    } else {
      async function* one(): AsyncIterable<ScoreStreamRequest> {
        yield await Promise.resolve({
          chunkId: 'c',
          model: 'churn',
          modelVersion: '',
          customers: [{ customerId: '1', features: {} }],
          reasonCodes: 0,
        });
      }
      for await (const _ of client.scoreStream(one())) {
        // drain
      }
    }
  };
  try {
    return await statusOf(send());
  } finally {
    client.close();
  }
}

describe('authentication and authorization, for every RPC', () => {
  const wrongRole: Record<string, () => Credential> = {
    Score: () => ({ apiKey: keys.batch }),
    ScoreStream: () => ({ apiKey: keys.scorer }),
    ListModels: () => ({ apiKey: keys.nobody }),
    GetModel: () => ({ apiKey: keys.nobody }),
  };
  const valid: Record<string, () => Credential> = {
    Score: () => ({ apiKey: keys.scorer }),
    ScoreStream: () => ({ apiKey: keys.batch }),
    ListModels: () => ({ bearerToken: tokens.valid }),
    GetModel: () => ({ bearerToken: tokens.valid }),
  };

  it.each(['Score', 'ScoreStream', 'ListModels', 'GetModel'] as const)('%s', async (method) => {
    const outcomes = {
      'no credentials': await call(method, undefined),
      'wrong API key': await call(method, { apiKey: keys.unknown }),
      'expired JWT': await call(method, { bearerToken: tokens.expired }),
      'JWT for another audience': await call(method, { bearerToken: tokens.wrongAudience }),
      'valid credential, wrong role': await call(method, wrongRole[method]!()),
      valid: await call(method, valid[method]!()),
    };
    expect(outcomes).toEqual({
      'no credentials': 'UNAUTHENTICATED',
      'wrong API key': 'UNAUTHENTICATED',
      'expired JWT': 'UNAUTHENTICATED',
      'JWT for another audience': 'UNAUTHENTICATED',
      'valid credential, wrong role': 'PERMISSION_DENIED',
      valid: 'OK',
    });
  });

  it('says what was wrong without echoing the credential', async () => {
    const error = await listModelsError(tokens.expired);
    expect(error).toMatchObject({
      code: Status.UNAUTHENTICATED,
      details: 'invalid bearer token: the token has expired',
    });
    const denied = await createScoringClient(address, { retry: false, auth: { apiKey: keys.batch } })
      .score({
        model: 'churn',
        modelVersion: '',
        customers: [{ customerId: '1', features: {} }],
        reasonCodes: 0,
      })
      .catch((e: unknown) => e);
    expect(denied).toMatchObject({
      code: Status.PERMISSION_DENIED,
      details: 'key:job-batch (roles: batch) may not call Score (allowed: scorer, admin)',
    });
  });

  it('refuses a JWT that never expires, saying exp is required', async () => {
    const error = await listModelsError(tokens.noExpiry);
    expect(error).toMatchObject({
      code: Status.UNAUTHENTICATED,
      details: 'invalid bearer token: claim "exp" is required: tokens must expire',
    });
  });

  it('keeps health checks open to probes without credentials', async () => {
    const health = createHealthClient(address);
    expect((await health.check({ service: '' })).status).toBe(ServingStatus.SERVING);
    health.close();
  });

  it('audits auth failures with method and peer, and never logs a secret', () => {
    const failures = server.logs.filter((line) => line.msg === 'authentication failed');
    expect(failures.length).toBeGreaterThanOrEqual(16);
    expect(failures[0]).toMatchObject({
      audit: 'auth',
      method: expect.stringMatching(/^\/customer_intelligence/),
      peer: expect.any(String),
    });
    expect(
      server.logs.some((line) => line.msg === 'permission denied' && line.principal === 'key:svc-nothing'),
    ).toBe(true);
    const everything = JSON.stringify(server.logs) + server.stderr();
    for (const value of [...Object.values(keys), ...Object.values(tokens), secret]) {
      expect(everything.includes(value)).toBe(false);
    }
  });
});

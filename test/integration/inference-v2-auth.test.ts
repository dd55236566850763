import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelInferRequest } from '../../gen/inference/grpc_service.js';
import { hashApiKey } from '../../server/src/security/api-key-authenticator.js';
import { statusOf } from '../helpers/status-of.js';
import { createV2Client, featuresRequest, type V2Client } from '../helpers/v2-client.js';
import { startTestServer, type TestServer } from './setup/test-server.js';

// The Open Inference Protocol behind AUTH_MODE=required: the method table's rules for the V2 RPCs
// (probes open, inference for scorers, streams for batch, repository changes for admins).
const keys = {
  scorer: `ci_${randomBytes(24).toString('base64url')}`,
  batch: `ci_${randomBytes(24).toString('base64url')}`,
  admin: `ci_${randomBytes(24).toString('base64url')}`,
};
let dir: string;
let t: TestServer;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-v2-auth-'));
  await writeFile(
    path.join(dir, 'api-keys.json'),
    JSON.stringify(
      Object.entries(keys).map(([role, key]) => ({
        name: `svc-${role}`,
        sha256: hashApiKey(key),
        roles: [role],
      })),
    ),
  );
  t = await startTestServer({ AUTH_MODE: 'required', API_KEYS_FILE: path.join(dir, 'api-keys.json') });
});
afterAll(async () => {
  await t?.close();
  await rm(dir, { recursive: true, force: true });
});

type Caller = keyof typeof keys | 'anonymous';
const RPCS = [
  'ServerLive',
  'ServerReady',
  'ModelReady',
  'ModelMetadata',
  'ModelConfig',
  'ModelStatistics',
  'ModelInfer',
  'ModelStreamInfer',
  'RepositoryIndex',
  'RepositoryModelLoad',
  'RepositoryModelUnload',
] as const;

const rows = [Array.from({ length: 11 }, () => 1)];

async function call(client: V2Client, rpc: (typeof RPCS)[number]): Promise<unknown> {
  switch (rpc) {
    case 'ServerLive':
      return client.serverLive({});
    case 'ServerReady':
      return client.serverReady({});
    case 'ModelReady':
      return client.modelReady({ name: 'churn', version: '' });
    case 'ModelMetadata':
      return client.modelMetadata({ name: 'churn', version: '' });
    case 'ModelConfig':
      return client.modelConfig({ name: 'churn', version: '' });
    case 'ModelStatistics':
      return client.modelStatistics({ name: '', version: '' });
    case 'ModelInfer':
      return client.modelInfer(featuresRequest('churn', rows));
    case 'ModelStreamInfer': {
      async function* one(): AsyncIterable<ModelInferRequest> {
        yield await Promise.resolve(featuresRequest('churn', rows));
      }
      for await (const _ of client.modelStreamInfer(one())) {
        // drain
      }
      return undefined;
    }
    case 'RepositoryIndex':
      return client.repositoryIndex({ repositoryName: '', ready: false });
    // Reloading churn in place leaves the server as it was, whoever is allowed to do it.
    case 'RepositoryModelLoad':
      return client.repositoryModelLoad({ repositoryName: '', modelName: 'churn', parameters: {} });
    // Unloading a model the repository does not have: NOT_FOUND when allowed, and nothing changes.
    case 'RepositoryModelUnload':
      return client.repositoryModelUnload({ repositoryName: '', modelName: 'absent', parameters: {} });
  }
}

async function outcome(caller: Caller, rpc: (typeof RPCS)[number]): Promise<string> {
  const client = createV2Client(t.address, caller === 'anonymous' ? {} : { apiKey: keys[caller] });
  try {
    return await statusOf(call(client, rpc));
  } finally {
    client.close();
  }
}

describe('Open Inference Protocol authorization', () => {
  it('applies the method table to every V2 RPC and caller', async () => {
    const table: Record<string, Record<Caller, string>> = {};
    for (const rpc of RPCS) {
      table[rpc] = {
        anonymous: await outcome('anonymous', rpc),
        scorer: await outcome('scorer', rpc),
        batch: await outcome('batch', rpc),
        admin: await outcome('admin', rpc),
      };
    }
    const [U, D] = ['UNAUTHENTICATED', 'PERMISSION_DENIED'];
    expect(table).toEqual({
      ServerLive: { anonymous: 'OK', scorer: 'OK', batch: 'OK', admin: 'OK' },
      ServerReady: { anonymous: 'OK', scorer: 'OK', batch: 'OK', admin: 'OK' },
      ModelReady: { anonymous: U, scorer: 'OK', batch: 'OK', admin: 'OK' },
      ModelMetadata: { anonymous: U, scorer: 'OK', batch: 'OK', admin: 'OK' },
      ModelConfig: { anonymous: U, scorer: 'OK', batch: 'OK', admin: 'OK' },
      ModelStatistics: { anonymous: U, scorer: 'OK', batch: 'OK', admin: 'OK' },
      ModelInfer: { anonymous: U, scorer: 'OK', batch: D, admin: 'OK' },
      ModelStreamInfer: { anonymous: U, scorer: D, batch: 'OK', admin: 'OK' },
      RepositoryIndex: { anonymous: U, scorer: 'OK', batch: 'OK', admin: 'OK' },
      RepositoryModelLoad: { anonymous: U, scorer: D, batch: D, admin: 'OK' },
      RepositoryModelUnload: { anonymous: U, scorer: D, batch: D, admin: 'NOT_FOUND' },
    });
  });
});

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Status } from 'nice-grpc';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createModelAdminClient, type ModelAdminClient } from '../../client/src/model-admin-client.js';
import { createScoringClient, type ScoringClient } from '../../client/src/scoring-client.js';
import { corruptVariant, trainVariant, type ModelVariant } from '../helpers/model-variants.js';
import { served } from '../helpers/served-version.js';
import { spawnServer, type ServerProcess } from '../helpers/server-process.js';
import { cloneDatabase, dropDatabase } from '../helpers/test-postgres.js';

// Registering model versions with two real server processes on one registry database: what the registry
// refuses (a version that cannot load, ONNX bytes changed behind its back, mismatched and duplicate
// registrations), and shipping a model trained elsewhere with the model CLI.
const database = `test_registry_${randomBytes(4).toString('hex')}`;
let databaseUrl: string;
let servers: ServerProcess[];
let admin: ModelAdminClient;
let scoreB: ScoringClient;
let v2: ModelVariant;
let adminAddress: string;
const run = promisify(execFile);

beforeAll(async () => {
  databaseUrl = await cloneDatabase(inject('postgresUrl'), inject('templateDatabase'), database);
  v2 = await trainVariant('churn', '2', 4242);
  servers = [0, 1].map(() =>
    // MODEL_WARM_VERSIONS=0: only the default and previous versions load ahead (the tamper test relies on it).
    spawnServer({
      DATABASE_URL: databaseUrl,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      LOG_LEVEL: 'info',
      MODEL_WARM_VERSIONS: '0',
    }),
  );
  const [a, b] = await Promise.all(servers.map((server) => server.waitForLog('serving')));
  adminAddress = `127.0.0.1:${String(a!.port)}`;
  admin = createModelAdminClient(adminAddress);
  scoreB = createScoringClient(`127.0.0.1:${String(b!.port)}`, { retry: false });
  // churn@2 registered (not promoted), as model-registry.test.ts leaves it: a duplicate of it is refused.
  await admin.registerModelVersion({
    model: 'churn',
    version: '2',
    onnx: v2.onnx,
    manifestJson: v2.manifestJson,
    setDefault: false,
  });
}, 120_000);

afterAll(async () => {
  admin?.close();
  scoreB?.close();
  for (const server of servers ?? []) server.child.kill('SIGTERM');
  await Promise.all((servers ?? []).map((server) => server.exited));
  await dropDatabase(inject('postgresUrl'), database);
});

describe('the model registry', () => {
  it('refuses to promote a version that cannot load, marks it failed and keeps the default', async () => {
    const broken = await corruptVariant('churn', '3');
    await admin.registerModelVersion({
      model: 'churn',
      version: '3',
      onnx: broken.onnx,
      manifestJson: broken.manifestJson,
      setDefault: false,
    });
    const refused = await admin.setDefaultVersion({ model: 'churn', version: '3' }).catch((e: unknown) => e);
    expect(refused).toMatchObject({
      code: Status.FAILED_PRECONDITION,
      details: expect.stringMatching(
        /^churn@3 cannot be loaded, so it cannot serve: .*ONNX Runtime cannot load it/,
      ),
    });
    const { models } = await admin.listModelVersions({ model: 'churn' });
    expect(models[0]!.defaultVersion).toBe('1');
    expect(models[0]!.versions.find((v) => v.version === '3')).toMatchObject({
      state: 'failed',
      failureReason: expect.stringContaining('cannot load'),
    });
    expect(await served(scoreB)).toMatchObject({ version: '1' });
  });

  it('catches ONNX bytes changed behind its back (SHA-256) and rejects bad registrations', async () => {
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    const v4 = await trainVariant('churn', '4', 99);
    await admin.registerModelVersion({
      model: 'churn',
      version: '4',
      onnx: v4.onnx,
      manifestJson: v4.manifestJson,
      setDefault: false,
    });
    // Tampering on disk/in the database after registration: the load-time check catches it. The
    // immutability trigger refuses this UPDATE even to the owner, so the tamperer here bypasses triggers.
    await db.query('SET session_replication_role = replica');
    await db.query(
      `UPDATE model_versions SET onnx = onnx || '\\x00'::bytea WHERE model = 'churn' AND version = '4'`,
    );
    await db.end();
    const refused = await admin.setDefaultVersion({ model: 'churn', version: '4' }).catch((e: unknown) => e);
    expect(refused).toMatchObject({
      code: Status.FAILED_PRECONDITION,
      details: expect.stringContaining('does not match'),
    });

    const mismatch = await admin
      .registerModelVersion({
        model: 'churn',
        version: '5',
        onnx: Buffer.from('x'),
        manifestJson: v4.manifestJson.replace('"version":"4"', '"version":"5"'),
        setDefault: false,
      })
      .catch((e: unknown) => e);
    expect(mismatch).toMatchObject({
      code: Status.INVALID_ARGUMENT,
      details: expect.stringMatching(/^onnx: SHA-256 .* does not match/),
    });
    const duplicate = await admin
      .registerModelVersion({
        model: 'churn',
        version: '2',
        onnx: v2.onnx,
        manifestJson: v2.manifestJson,
        setDefault: false,
      })
      .catch((e: unknown) => e);
    expect(duplicate).toMatchObject({ code: Status.ALREADY_EXISTS });
    const noRollbackTarget = await admin.rollbackModel({ model: 'clv' }).catch((e: unknown) => e);
    expect(noRollbackTarget).toMatchObject({ code: Status.FAILED_PRECONDITION });
  });

  it('ships a model trained elsewhere with the model CLI (register --dir --promote, list)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ci-model-cli-'));
    try {
      const variant = await trainVariant('clv', '2', 777);
      await writeFile(path.join(dir, 'model.onnx'), variant.onnx);
      await writeFile(path.join(dir, 'manifest.json'), variant.manifestJson);
      const cli = (args: string[]) =>
        run(process.execPath, [
          '--import',
          'tsx',
          'client/src/model-cli.ts',
          ...args,
          '--address',
          adminAddress,
        ]);
      const registered = await cli(['register', '--dir', dir, '--promote']);
      expect(registered.stdout).toMatch(/^clv {2}default 2 {2}previous 1/m);
      const listed = await cli(['list', '--model', 'clv']);
      expect(listed.stdout).toMatch(/^ {2}2 .* loaded$/m);
      const failed = await cli(['promote', '--model', 'clv', '--version', '9']).catch(
        (error: { code: number; stderr: string }) => error,
      );
      expect(failed).toMatchObject({ code: 1, stderr: expect.stringContaining('promote: NOT_FOUND') });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

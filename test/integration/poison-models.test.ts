import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { createModelAdminClient, type ModelAdminClient } from '../../client/src/model-admin-client.js';
import { createScoringClient, type ScoringClient } from '../../client/src/scoring-client.js';
import { createHealthClient, ServingStatus, type HealthClient } from '../helpers/health-client.js';
import {
  constantOfShapeModel,
  externalDataModel,
  loopModel,
  type PoisonModel,
} from '../helpers/poison-models.js';
import { served } from '../helpers/served-version.js';
import { spawnServer, type ServerProcess } from '../helpers/server-process.js';
import { cloneDatabase, dropDatabase } from '../helpers/test-postgres.js';

// Poison ONNX models against two real server processes on one registry (issue 18): a Loop that never ends,
// a ConstantOfShape of a GiB and a model reading its weights from a file of the server (external data).
// Every replica warms the newest versions even when they are not promoted (MODEL_WARM_VERSIONS), so loading
// such a version in-process would hang or OOM-kill all of them — and again at every restart. Each must end
// `failed` with a reason saying why, while every replica stays SERVING and keeps scoring with churn@1.
const database = `test_poison_${randomBytes(4).toString('hex')}`;
const env = (url: string) => ({
  DATABASE_URL: url,
  GRPC_HOST: '127.0.0.1',
  GRPC_PORT: '0',
  LOG_LEVEL: 'info',
  MODEL_VALIDATION_TIMEOUT_MS: '3000',
  MODEL_VALIDATION_MAX_RSS_MB: '256',
});
let databaseUrl: string;
let db: pg.Client;
let admin: ModelAdminClient;
const replicas: Array<{
  server: ServerProcess;
  address: string;
  scoring: ScoringClient;
  health: HealthClient;
}> = [];

async function startReplica(): Promise<(typeof replicas)[number]> {
  const server = spawnServer(env(databaseUrl));
  const { port } = await server.waitForLog('serving');
  const address = `127.0.0.1:${String(port)}`;
  const replica = {
    server,
    address,
    scoring: createScoringClient(address, { retry: false }),
    health: createHealthClient(address),
  };
  replicas.push(replica);
  return replica;
}

async function stopReplica(replica: (typeof replicas)[number]): Promise<void> {
  replica.scoring.close();
  replica.health.close();
  replica.server.child.kill('SIGTERM');
  // A replica hung by a model (the event loop blocked in ONNX Runtime) never handles SIGTERM.
  const killer = setTimeout(() => replica.server.child.kill('SIGKILL'), 10_000);
  await replica.server.exited;
  clearTimeout(killer);
  replicas.splice(replicas.indexOf(replica), 1);
}

/** Every replica answers health SERVING and scores with churn@1, each within 5 s. */
async function expectEveryReplicaServing(): Promise<void> {
  for (const { health, scoring } of replicas) {
    const { status } = await health.check({ service: '' }, { signal: AbortSignal.timeout(5_000) });
    expect(status).toBe(ServingStatus.SERVING);
    expect(await served(scoring)).toMatchObject({ version: '1' });
  }
}

/** churn@<version> as the registry lists it. */
async function listed(version: string) {
  const { models } = await admin.listModelVersions({ model: 'churn' });
  return models[0]?.versions.find((v) => v.version === version);
}

beforeAll(async () => {
  databaseUrl = await cloneDatabase(inject('postgresUrl'), inject('templateDatabase'), database);
  db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const [a] = await Promise.all([startReplica(), startReplica()]);
  admin = createModelAdminClient(a.address);
}, 120_000);

afterAll(async () => {
  admin?.close();
  await Promise.all([...replicas].map(stopReplica));
  await db?.end();
  await dropDatabase(inject('postgresUrl'), database);
});

/** Registers a version through the admin API, not promoted (every replica would still warm it). */
async function register(version: string, model: PoisonModel) {
  const { model: state } = await admin.registerModelVersion({
    model: 'churn',
    version,
    onnx: Buffer.from(model.onnx),
    manifestJson: model.manifestJson,
    setDefault: false,
  });
  return state!.versions.find((v) => v.version === version);
}

describe('poison models', () => {
  it('marks a Loop that never ends failed (timed out) at registration; every replica keeps serving', async () => {
    expect(await register('10', await loopModel('10'))).toMatchObject({
      state: 'failed',
      failureReason: expect.stringMatching(/validation timed out after 3000 ms/),
    });
    await expectEveryReplicaServing();
  });

  it('marks a ConstantOfShape of a GiB failed (memory) at registration; every replica keeps serving', async () => {
    expect(await register('11', await constantOfShapeModel('11'))).toMatchObject({
      state: 'failed',
      failureReason: expect.stringMatching(/validation used more than 256 MiB of memory/),
    });
    await expectEveryReplicaServing();
  });

  it('refuses a model with external data (here a file of the server as weights); replicas keep serving', async () => {
    // Loaded in-process, this one "works": ONNX Runtime reads package.json from the working directory.
    expect(await register('12', await externalDataModel('12', 'package.json'))).toMatchObject({
      state: 'failed',
      failureReason: expect.stringMatching(
        /external data is not allowed .*initializer "w" \(location "package.json"\)/,
      ),
    });
    const refused = await admin.setDefaultVersion({ model: 'churn', version: '12' }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ details: expect.stringContaining('external data is not allowed') });
    await expectEveryReplicaServing();
  });

  it('checks a version written behind the API (an owner’s SQL) before any replica loads it', async () => {
    const poison = await loopModel('13');
    await db.query(
      `INSERT INTO model_versions (model, version, onnx, onnx_sha256, manifest, registered_by)
       VALUES ('churn', '13', $1, $2, $3, 'psql')`,
      [Buffer.from(poison.onnx), createHash('sha256').update(poison.onnx).digest('hex'), poison.manifestJson],
    );
    // The notification makes both replicas want it (the newest versions are warmed): each checks it first.
    await vi.waitFor(
      async () =>
        expect(await listed('13')).toMatchObject({
          state: 'failed',
          failureReason: expect.stringMatching(/validation timed out after 3000 ms/),
        }),
      { timeout: 30_000, interval: 250 },
    );
    await expectEveryReplicaServing();
  });

  it('restarts without trying a failed version again, and checks a good version only once', async () => {
    // A good version (churn@1's bytes as churn@20), registered through the API: checked once, recorded.
    const manifestPath = path.resolve(import.meta.dirname, '../../models/churn/1/manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Record<string, unknown>;
    const onnx = await readFile(path.join(path.dirname(manifestPath), 'model.onnx'));
    expect(
      await register('20', {
        onnx,
        manifest,
        manifestJson: JSON.stringify({ ...manifest, version: '20' }),
      }),
    ).toMatchObject({ state: 'registered' });
    const { rows } = await db.query<{ version: string; checked: boolean }>(
      `SELECT version, validated_sha256 IS NOT DISTINCT FROM onnx_sha256 AS checked FROM model_versions
        WHERE model = 'churn' AND state = 'registered' ORDER BY version`,
    );
    // churn@1 (seeded) was checked by the replicas' first start, churn@20 at its registration.
    expect(rows).toEqual([
      { version: '1', checked: true },
      { version: '20', checked: true },
    ]);

    await stopReplica(replicas[1]!);
    const restarted = await startReplica();
    await vi.waitFor(() =>
      expect(restarted.server.logs).toContainEqual(
        expect.objectContaining({ msg: 'model version loaded and warmed', version: '20' }),
      ),
    );
    // Nothing checked again, nothing failed again: the failed versions are not even tried.
    expect(
      restarted.server.logs.filter(
        (line) =>
          line.msg === 'model version passed the isolated check' ||
          line.msg === 'model version failed to load',
      ),
    ).toEqual([]);
    await expectEveryReplicaServing();
  });
});

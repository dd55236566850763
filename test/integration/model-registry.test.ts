import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ClientError, Status } from 'nice-grpc';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createModelAdminClient,
  KillSwitchMode,
  type ModelAdminClient,
} from '../../client/src/model-admin-client.js';
import { createScoringClient, type ScoringClient } from '../../client/src/scoring-client.js';
import { corruptVariant, trainVariant, type ModelVariant } from '../helpers/model-variants.js';
import { spawnServer, type ServerProcess } from '../helpers/server-process.js';
import { cloneDatabase, dropDatabase } from '../helpers/test-postgres.js';

// Two real server processes share one registry database: what one replica is told, both serve.
const database = `test_registry_${randomBytes(4).toString('hex')}`;
let databaseUrl: string;
let servers: ServerProcess[];
let admin: ModelAdminClient;
let scoreA: ScoringClient;
let scoreB: ScoringClient;
let v2: ModelVariant;
let adminAddress: string;
const run = promisify(execFile);

const inline = {
  tenure_months: 5,
  plan_tier: 0,
  monthly_charges: 35,
  contract_months: 0,
  autopay: 0,
  usage_trend: -0.4,
  support_tickets_90d: 3,
  payment_failures_90d: 1,
  days_since_last_activity: 14,
  sessions_30d: 4,
  spend_12m: 300,
};

async function served(
  client: ScoringClient,
  version = '',
): Promise<{ version: string; score: number } | string> {
  try {
    const { results } = await client.score({
      model: 'churn',
      modelVersion: version,
      customers: [{ customerId: '', features: inline }],
      reasonCodes: 0,
    });
    const outcome = results[0]?.outcome;
    if (outcome?.$case !== 'prediction') return 'item error';
    return { version: outcome.value.modelVersion, score: outcome.value.score };
  } catch (error) {
    if (error instanceof ClientError) return `${Status[error.code]}: ${error.details}`;
    throw error;
  }
}

/** Polls `client` until it serves `version`; returns how long that took in ms. */
async function convergence(client: ScoringClient, version: string, since: number): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const answer = await served(client);
    if (typeof answer !== 'string' && answer.version === version) return performance.now() - since;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`never served ${version}`);
}

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
  scoreA = createScoringClient(`127.0.0.1:${String(a!.port)}`, { retry: false });
  scoreB = createScoringClient(`127.0.0.1:${String(b!.port)}`, { retry: false });
}, 120_000);

afterAll(async () => {
  admin?.close();
  scoreA?.close();
  scoreB?.close();
  for (const server of servers ?? []) server.child.kill('SIGTERM');
  await Promise.all((servers ?? []).map((server) => server.exited));
  await dropDatabase(inject('postgresUrl'), database);
});

describe('the model registry', () => {
  it('was seeded from the models folder', async () => {
    const { models } = await admin.listModelVersions({ model: '' });
    expect(models.map((m) => `${m.model}@${m.defaultVersion}`)).toEqual(['churn@1', 'clv@1']);
    expect(models[0]!.versions[0]).toMatchObject({
      version: '1',
      state: 'registered',
      loaded: true,
      registeredBy: 'seed:models-folder',
    });
  });

  it('promotes on one replica and the other serves the new version shortly after', async () => {
    const before = await served(scoreB);
    await admin.registerModelVersion({
      model: 'churn',
      version: '2',
      onnx: v2.onnx,
      manifestJson: v2.manifestJson,
      setDefault: false,
    });
    expect(await served(scoreB)).toEqual(before); // registered, not promoted

    const promotedAt = performance.now();
    const { model } = await admin.setDefaultVersion({ model: 'churn', version: '2' });
    expect(model).toMatchObject({ defaultVersion: '2', previousVersion: '1' });
    // Replica A answered after it switched; replica B follows the registry's notification.
    expect(await served(scoreA)).toMatchObject({ version: '2' });
    const ms = await convergence(scoreB, '2', promotedAt);
    process.stdout.write(`replica B served churn@2 ${ms.toFixed(0)} ms after the promotion call started\n`);
    const after = await served(scoreB);
    expect(typeof after !== 'string' && typeof before !== 'string' && after.score !== before.score).toBe(
      true,
    );
    // Pinned versions keep working on both replicas.
    expect(await served(scoreB, '1')).toEqual(before);
  });

  it('promotes and rolls back under continuous load with zero failed requests', async () => {
    const failures: string[] = [];
    const versions = new Set<string>();
    let calls = 0;
    let stop = false;
    const load = Promise.all(
      [scoreA, scoreB, scoreA, scoreB].map(async (client) => {
        while (!stop) {
          calls++;
          const answer = await served(client);
          if (typeof answer === 'string') failures.push(answer);
          else versions.add(answer.version);
        }
      }),
    );
    const pause = () => new Promise((resolve) => setTimeout(resolve, 300));
    await pause();
    const rolledBackAt = performance.now();
    const { model } = await admin.rollbackModel({ model: 'churn' });
    const rollbackMs = performance.now() - rolledBackAt;
    expect(model).toMatchObject({ defaultVersion: '1', previousVersion: '2' });
    const convergedMs = await convergence(scoreB, '1', rolledBackAt);
    await pause();
    // Promote again and roll back again, still under load: both directions of the swap.
    const promotedAt = performance.now();
    await admin.setDefaultVersion({ model: 'churn', version: '2' });
    const promotedConvergedMs = await convergence(scoreB, '2', promotedAt);
    await pause();
    expect((await admin.rollbackModel({ model: 'churn' })).model).toMatchObject({
      defaultVersion: '1',
      previousVersion: '2',
    });
    await convergence(scoreB, '1', performance.now());
    await pause();
    stop = true;
    await load;
    process.stdout.write(
      `swaps under load: ${calls} calls, ${failures.length} failed; rollback call ${rollbackMs.toFixed(0)} ms, ` +
        `replica B on churn@1 after ${convergedMs.toFixed(0)} ms, on churn@2 after ${promotedConvergedMs.toFixed(0)} ms\n`,
    );
    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThan(100);
    expect([...versions].sort()).toEqual(['1', '2']);
  });

  it('switches a model off (refuse, then previous version) and back on, on every replica', async () => {
    await admin.setKillSwitch({
      model: 'churn',
      mode: KillSwitchMode.KILL_SWITCH_MODE_REFUSE,
      reason: 'bad data upstream',
    });
    for (const client of [scoreA, scoreB]) {
      let answer = await served(client);
      for (let i = 0; i < 300 && typeof answer !== 'string'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        answer = await served(client);
      }
      expect(answer).toBe('UNAVAILABLE: model "churn" is switched off: bad data upstream');
    }
    await admin.setKillSwitch({
      model: 'churn',
      mode: KillSwitchMode.KILL_SWITCH_MODE_PREVIOUS_VERSION,
      reason: 'v1 misbehaves',
    });
    expect(await served(scoreA)).toMatchObject({ version: '2' }); // default is 1, previous is 2
    await admin.setKillSwitch({ model: 'churn', mode: KillSwitchMode.KILL_SWITCH_MODE_OFF, reason: '' });
    expect(await served(scoreA)).toMatchObject({ version: '1' });
    expect(await convergence(scoreB, '1', performance.now())).toBeGreaterThanOrEqual(0);
  });

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

  it('re-reads the registry after losing its LISTEN connection', async () => {
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    await db.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ci-registry-listener' AND datname = $1`,
      [database],
    );
    // A change made while the replicas are not listening: the notification is lost.
    await db.query(
      `UPDATE models SET previous_version = default_version, default_version = '2' WHERE model = 'churn'`,
    );
    await db.end();
    expect(await convergence(scoreB, '2', performance.now())).toBeGreaterThanOrEqual(0);
    expect(await convergence(scoreA, '2', performance.now())).toBeGreaterThanOrEqual(0);
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

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createModelAdminClient,
  KillSwitchMode,
  type ModelAdminClient,
} from '../../client/src/model-admin-client.js';
import { createScoringClient, type ScoringClient } from '../../client/src/scoring-client.js';
import { trainVariant, type ModelVariant } from '../helpers/model-variants.js';
import { convergence, served } from '../helpers/served-version.js';
import { spawnServer, type ServerProcess } from '../helpers/server-process.js';
import { cloneDatabase, dropDatabase } from '../helpers/test-postgres.js';

// Two real server processes share one registry database: what one replica is told, both serve (seeding,
// promotion, rollback under load, the kill switch, and a change made while the LISTEN connection was lost).
const database = `test_registry_${randomBytes(4).toString('hex')}`;
let databaseUrl: string;
let servers: ServerProcess[];
let admin: ModelAdminClient;
let scoreA: ScoringClient;
let scoreB: ScoringClient;
let v2: ModelVariant;

beforeAll(async () => {
  databaseUrl = await cloneDatabase(inject('postgresUrl'), inject('templateDatabase'), database);
  v2 = await trainVariant('churn', '2', 4242);
  servers = [0, 1].map(() =>
    // MODEL_WARM_VERSIONS=0: only the default and previous versions load ahead, as in
    // model-registry-registration.test.ts (its tamper test relies on it).
    spawnServer({
      DATABASE_URL: databaseUrl,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      LOG_LEVEL: 'info',
      MODEL_WARM_VERSIONS: '0',
    }),
  );
  const [a, b] = await Promise.all(servers.map((server) => server.waitForLog('serving')));
  admin = createModelAdminClient(`127.0.0.1:${String(a!.port)}`);
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
});

import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Status } from 'nice-grpc';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isHoldoutCustomer } from '../../batch/src/synthetic/holdout-split.js';
import { FileModelDestination } from '../../batch/src/train/file-model-destination.js';
import { AdminModelDestination } from '../../batch/src/train/admin-model-destination.js';
import { runTrainJob } from '../../batch/src/train/train-job.js';
import { createModelAdminClient } from '../../client/src/model-admin-client.js';
import { createScoringClient } from '../../client/src/scoring-client.js';
import { hashApiKey } from '../../server/src/security/api-key-authenticator.js';
import { ModelRegistry } from '../../server/src/registry/model-registry.js';
import { createLogger } from '../../server/src/telemetry/logger.js';
import { runBatchCli } from '../helpers/batch-cli.js';
import { loadFileModelRepository } from '../helpers/file-model-repository.js';
import { cloneDatabase, dropDatabase } from '../helpers/test-postgres.js';
import { startServerOn, type TestServer } from './setup/test-server.js';

// `npm run batch:train` on the seeded template (3,000 labelled customers): train, register, gate, promote.
const database = `test_batch_train_${randomBytes(4).toString('hex')}`;
const logger = createLogger({ level: 'silent' });
const bundledModels = path.resolve(import.meta.dirname, '../../models');
let databaseUrl: string;
let db: pg.Pool;
let tmp: string;
let repository: string;

beforeAll(async () => {
  databaseUrl = await cloneDatabase(inject('postgresUrl'), inject('templateDatabase'), database);
  db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ci-batch-train-'));
  repository = path.join(tmp, 'models');
});
afterAll(async () => {
  await db?.end();
  await dropDatabase(inject('postgresUrl'), database);
  await rm(tmp, { recursive: true, force: true });
});

const defaultVersion = async (repo: string, model: string) =>
  (JSON.parse(await readFile(path.join(repo, model, 'model.json'), 'utf8')) as { defaultVersion: string })
    .defaultVersion;

/** What the server would serve from `repo`: default version and versions per model. */
async function served(repo: string): Promise<Record<string, { defaultVersion: string; versions: string[] }>> {
  const models = await loadFileModelRepository(repo);
  const result = Object.fromEntries(
    models.map((model) => [
      model.name,
      { defaultVersion: model.defaultVersion, versions: [...model.versions.keys()] },
    ]),
  );
  await Promise.all(
    models.flatMap((model) => [...model.versions.values()].map((version) => version.close())),
  );
  return result;
}

/**
 * Sabotages the training labels — training customers only, the holdout stays true — so the next candidate
 * is deliberately worse: churn labels inverted, revenue zeroed.
 */
async function sabotageTrainingLabels(): Promise<() => Promise<void>> {
  const { rows } = await db.query<{ customer_id: string }>('SELECT customer_id FROM customer_labels');
  const trainIds = rows.map((row) => row.customer_id).filter((id) => !isHoldoutCustomer(id));
  await db.query('CREATE TABLE labels_backup AS SELECT * FROM customer_labels');
  await db.query(
    'UPDATE customer_labels SET churned = NOT churned, revenue_12m = 0 WHERE customer_id = ANY($1)',
    [trainIds],
  );
  return async () => {
    await db.query(
      `UPDATE customer_labels l SET churned = b.churned, revenue_12m = b.revenue_12m
       FROM labels_backup b WHERE b.customer_id = l.customer_id`,
    );
    await db.query('DROP TABLE labels_backup');
  };
}

describe('npm run batch:train', () => {
  it('trains both families from the feature store, registers them and promotes the better one when there is no champion', async () => {
    const run = await runBatchCli('train', ['--out', repository], { DATABASE_URL: databaseUrl });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /snapshot feature-store:labels<=\d{4}-\d{2}-\d{2}:customers=3000:sha256=[0-9a-f]{12}: \d+ training and \d+ holdout/,
    );
    // Both families on the same snapshot: the trees beat the linear models on the same holdout.
    expect(run.stdout).toMatch(
      /churn@1 registered, NOT promoted \(logistic-regression\): auc 0\.\d+, log_loss/,
    );
    expect(run.stdout).toMatch(
      /no champion to compare with; not promoted: churn@2 \(trees\) has the better auc \(0\.\d{4} vs 0\.\d{4}\)/,
    );
    expect(run.stdout).toMatch(/churn@2 PROMOTED \(gradient-boosted-trees\): auc 0\.\d+, log_loss/);
    expect(run.stdout).toMatch(
      /clv@1 registered, NOT promoted \(ridge-regression-log1p-smearing\): rmse \d+/,
    );
    expect(run.stdout).toMatch(/clv@2 PROMOTED \(gradient-boosted-trees\): rmse \d+/);
    expect(await served(repository)).toEqual({
      churn: { defaultVersion: '2', versions: ['1', '2'] },
      clv: { defaultVersion: '2', versions: ['1', '2'] },
    });
    const manifest = (version: string) =>
      readFile(path.join(repository, `churn/${version}/manifest.json`), 'utf8').then(
        (text) => JSON.parse(text) as { training: { snapshotId: string; algorithm: string } },
      );
    const [linear, trees] = [await manifest('1'), await manifest('2')];
    expect(linear.training.snapshotId).toMatch(/^feature-store:labels<=/);
    expect(trees.training.snapshotId).toBe(linear.training.snapshotId);
    expect(trees.training).toMatchObject({
      algorithm: 'gradient-boosted-trees',
      loss: 'logistic',
      hyperParameters: { rounds: 50, learningRate: 0.2, maxDepth: 3, minLeafRows: 50, l2: 1, maxBins: 64 },
    });
  });

  it('registers a deliberately worse candidate but keeps the champion as the default, saying why', async () => {
    // A second repository: the bundled models, whose default is implicit (no model.json: the highest version).
    const bundledCopy = path.join(tmp, 'bundled');
    await cp(bundledModels, bundledCopy, { recursive: true });
    const restore = await sabotageTrainingLabels();
    try {
      for (const [repo, champion, versions] of [
        [repository, '2', ['3', '4']],
        [bundledCopy, '1', ['2', '3']],
      ] as const) {
        const result = await runTrainJob(
          { pool: db, destination: new FileModelDestination(repo), logger },
          { asOf: '2099-12-31', margin: 0.01 },
        );
        expect(result.models.map((report) => [report.model, report.family, report.version])).toEqual([
          ['churn', 'linear', versions[0]],
          ['churn', 'trees', versions[1]],
          ['clv', 'linear', versions[0]],
          ['clv', 'trees', versions[1]],
        ]);
        for (const report of result.models) {
          expect(report).toMatchObject({ promoted: false, champion: { version: champion } });
          expect(report.reason).toMatch(/ worse, more than the 1\.0 % margin/);
        }
        for (const churn of result.models.filter((report) => report.model === 'churn')) {
          expect(churn.candidateMetrics.auc).toBeLessThan(0.5);
          expect(churn.reason).toMatch(/^auc 0\.\d{4} vs champion 0\.\d{4}: \d+\.\d % worse/);
        }
      }
    } finally {
      await restore();
    }
    // Registered (servable by version) but not the default; in the bundled copy the implicit default was
    // pinned before version 2 appeared, so the server does not start serving the worse model.
    for (const [repo, champion, versions] of [
      [repository, '2', ['1', '2', '3', '4']],
      [bundledCopy, '1', ['1', '2', '3']],
    ] as const) {
      const expected = { defaultVersion: champion, versions };
      expect(await served(repo)).toEqual({ churn: expected, clv: expected });
      expect(await defaultVersion(repo, 'churn')).toBe(champion);
    }
    expect((await readdir(path.join(repository, 'churn', '4'))).sort()).toEqual([
      'manifest.json',
      'model.onnx',
    ]);
  });

  it('promotes a candidate that is not worse than the champion', async () => {
    const result = await runTrainJob(
      { pool: db, destination: new FileModelDestination(repository), logger },
      { asOf: '2099-12-31', margin: 0.01 },
    );
    // The same data as the champion (the trees of version 2): the same trees, so the same metrics; the
    // linear candidate is as far behind the champion as it was behind the trees in the first run.
    for (const report of result.models) {
      expect(report.champion).toMatchObject({ version: '2' });
      if (report.family === 'trees') {
        expect(report).toMatchObject({ version: '6', promoted: true });
        expect(report.reason).toMatch(/^within the 1\.0 % margin: .* the same/);
      } else {
        expect(report).toMatchObject({ version: '5', promoted: false });
        expect(report.reason).toMatch(/ worse, more than the 1\.0 % margin/);
      }
    }
    const expected = { defaultVersion: '6', versions: ['1', '2', '3', '4', '5', '6'] };
    expect(await served(repository)).toEqual({ churn: expected, clv: expected });
  });

  it('trains only the families asked for, and refuses an unknown one', async () => {
    const run = await runBatchCli(
      'train',
      ['--out', repository, '--model', 'churn', '--family', 'linear', '--margin', '1'],
      { DATABASE_URL: databaseUrl },
    );
    expect(run.code).toBe(0);
    // The only candidate, past a wide-open gate, replaces the trees champion.
    expect(run.stdout).toMatch(/churn@7 PROMOTED \(logistic-regression\) over churn@6: auc 0\.\d+/);
    expect(run.stdout).not.toMatch(/gradient-boosted-trees|clv@/);
    expect((await served(repository)).churn).toEqual({
      defaultVersion: '7',
      versions: ['1', '2', '3', '4', '5', '6', '7'],
    });
    const unknown = await runBatchCli('train', ['--out', repository, '--family', 'forest'], {
      DATABASE_URL: databaseUrl,
    });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^train: --family: expected linear or trees, got "forest"/);
  });
});

describe('npm run batch:train into the model registry (through the admin API)', () => {
  let server: TestServer;
  let destination: AdminModelDestination;
  const keys = {
    admin: `ci_${randomBytes(24).toString('base64url')}`,
    scorer: `ci_${randomBytes(24).toString('base64url')}`,
  };
  let keyDir: string;
  beforeAll(async () => {
    // The server seeds the registry from the bundled models at start, as a deployment's first start does.
    keyDir = await mkdtemp(path.join(os.tmpdir(), 'ci-batch-train-keys-'));
    await writeFile(
      path.join(keyDir, 'api-keys.json'),
      JSON.stringify([
        { name: 'batch:train', sha256: hashApiKey(keys.admin), roles: ['admin'] },
        { name: 'svc-online', sha256: hashApiKey(keys.scorer), roles: ['scorer'] },
      ]),
    );
    await writeFile(path.join(keyDir, 'admin-key'), `${keys.admin}\n`);
    server = await startServerOn(databaseUrl, {
      AUTH_MODE: 'required',
      API_KEYS_FILE: path.join(keyDir, 'api-keys.json'),
      MODEL_REPOSITORY_DIR: bundledModels,
    });
    destination = new AdminModelDestination(server.address, { auth: { apiKey: keys.admin } });
  });
  afterAll(async () => {
    destination?.close();
    await server?.close();
    await rm(keyDir, { recursive: true, force: true });
  });

  it('registers next to the served versions and promotes only past the gate', async () => {
    const registry = new ModelRegistry(db);
    const restore = await sabotageTrainingLabels();
    try {
      const worse = await runTrainJob(
        { pool: db, destination, logger },
        { asOf: '2099-12-31', margin: 0.01 },
      );
      expect(worse.models.map((report) => [report.model, report.version, report.promoted])).toEqual([
        ['churn', '2', false],
        ['churn', '3', false],
        ['clv', '2', false],
        ['clv', '3', false],
      ]);
    } finally {
      await restore();
    }
    const [churn] = await registry.list('churn');
    expect(churn).toMatchObject({ defaultVersion: '1', previousVersion: null });
    expect(churn!.versions.map((v) => [v.version, v.registeredBy])).toEqual([
      ['1', 'seed:models-folder'],
      ['2', 'key:batch:train'],
      ['3', 'key:batch:train'],
    ]);
    // With the gate wide open, both candidates pass and the better one (the trees) becomes the default;
    // the old one is the rollback target.
    const accepted = await runTrainJob(
      { pool: db, destination, logger },
      { asOf: '2099-12-31', margin: 1, models: ['churn'] },
    );
    expect(accepted.models.map((report) => [report.family, report.version, report.promoted])).toEqual([
      ['linear', '4', false],
      ['trees', '5', true],
    ]);
    expect((await registry.list('churn'))[0]).toMatchObject({ defaultVersion: '5', previousVersion: '1' });
    // The server loaded and warmed the promoted tree version, and serves it with its reason codes.
    const scoring = createScoringClient(server.address, { retry: false, auth: { apiKey: keys.scorer } });
    try {
      const { results } = await scoring.score({
        model: 'churn',
        modelVersion: '',
        customers: [{ customerId: '42', features: {} }],
        reasonCodes: 3,
      });
      expect(results[0]?.outcome).toMatchObject({ $case: 'prediction', value: { modelVersion: '5' } });
      const prediction = results[0]?.outcome?.$case === 'prediction' ? results[0].outcome.value : undefined;
      expect(prediction?.reasonCodes).toHaveLength(3);
    } finally {
      scoring.close();
    }
  });

  it('reads the champion as registered: GetModelVersion answers its ONNX bytes and manifest', async () => {
    const admin = createModelAdminClient(server.address, { auth: { apiKey: keys.admin } });
    try {
      const stored = await new ModelRegistry(db).artifact('clv', '1');
      const answer = await admin.getModelVersion({ model: 'clv', version: '' });
      expect(answer.version).toBe((await new ModelRegistry(db).list('clv'))[0]!.defaultVersion);
      const pinned = await admin.getModelVersion({ model: 'clv', version: '1' });
      expect(Buffer.compare(pinned.onnx, stored.onnx)).toBe(0);
      expect(JSON.parse(pinned.manifestJson)).toEqual(stored.manifest);
      await expect(admin.getModelVersion({ model: 'clv', version: '99' })).rejects.toMatchObject({
        code: Status.NOT_FOUND,
      });
      await expect(admin.getModelVersion({ model: 'nope', version: '' })).rejects.toMatchObject({
        code: Status.NOT_FOUND,
      });
    } finally {
      admin.close();
    }
  });

  it('is where the CLI writes without --out, with a credential of the admin role', async () => {
    const env = { DATABASE_URL: databaseUrl, ADMIN_ADDRESS: server.address };
    const [run, wrongRole, none] = await Promise.all([
      runBatchCli('train', ['--model', 'clv', '--margin', '1'], {
        ...env,
        ADMIN_API_KEY_FILE: path.join(keyDir, 'admin-key'),
      }),
      runBatchCli('train', ['--model', 'clv'], { ...env, ADMIN_API_KEY: keys.scorer }),
      runBatchCli('train', ['--model', 'clv'], env),
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/clv@4 registered, NOT promoted \(ridge-regression-log1p-smearing\)/);
    expect(run.stdout).toMatch(/clv@5 PROMOTED \(gradient-boosted-trees\)/);
    expect(run.stdout).toMatch(/models in the model registry through 127\.0\.0\.1:\d+/);
    expect(wrongRole.code).toBe(1);
    expect(wrongRole.stderr).toMatch(
      /train: the server at 127\.0\.0\.1:\d+ answered PERMISSION_DENIED: .*admin role/,
    );
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/train: the server at 127\.0\.0\.1:\d+ answered UNAUTHENTICATED/);
    for (const result of [run, wrongRole, none])
      expect(result.stdout + result.stderr).not.toContain(keys.admin);
  });

  it('says the server is unreachable and how to point at it', async () => {
    const run = await runBatchCli('train', ['--model', 'clv', '--address', '127.0.0.1:1'], {
      DATABASE_URL: databaseUrl,
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /train: the server at 127\.0\.0\.1:1 answered UNAVAILABLE: .*is it running\? Set --address or ADMIN_ADDRESS/,
    );
  });
});

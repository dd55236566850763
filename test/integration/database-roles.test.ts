import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createModelAdminClient, KillSwitchMode } from '../../client/src/model-admin-client.js';
import { FeatureSource } from '../../client/src/scoring-client.js';
import { runBatchCli } from '../helpers/batch-cli.js';
import { createRoleMember, outcomeAs } from '../helpers/role-members.js';
import { cloneDatabase, createEmptyDatabase, dropDatabase } from '../helpers/test-postgres.js';
import { SAMPLE_FEATURES } from '../helpers/sample-features.js';
import { startServerOn, type TestServer } from './setup/test-server.js';

// The least-privilege roles of server/src/db/roles.sql (the global setup applies it to the template, as a
// DBA would after migrating): a server and the batch jobs logging in as mere members of them do all their
// work — by-id scoring, the audit log, registry changes, a scoring run that creates its day partition, a
// training run that registers a model through the server — and cannot do what their role does not need.
const database = `test_roles_${randomBytes(4).toString('hex')}`;
const customers = inject('templateCustomers');
let admin: pg.Client;
let url: string;
let t: TestServer | undefined;

/** A login role that is only a member of `group`, and the database URL it logs in with. */
const member = (group: string) => createRoleMember(admin, url, group);

beforeAll(async () => {
  url = await cloneDatabase(inject('postgresUrl'), inject('templateDatabase'), database);
  admin = new pg.Client({ connectionString: url });
  await admin.connect();
});
afterAll(async () => {
  await t?.close();
  await admin?.end();
  await dropDatabase(inject('postgresUrl'), database);
  await dropDatabase(inject('postgresUrl'), fresh);
});

const run = promisify(execFile);
const fresh = `test_roles_fresh_${randomBytes(4).toString('hex')}`;

describe('least-privilege database roles', () => {
  it('are enough for the server and the batch jobs, and no more', async () => {
    const server = await member('customer_intelligence_server');
    const batch = await member('customer_intelligence_batch');
    t = await startServerOn(server.url, { AUDIT_SAMPLE_RATE: '1', AUDIT_FLUSH_INTERVAL_MS: '50' });

    // The server: by-id and inline scoring, audited; a registry change through the admin API.
    const scored = await t.client.score({
      model: 'churn',
      modelVersion: '',
      customers: [
        { customerId: '7', features: {} },
        { customerId: '', features: SAMPLE_FEATURES },
      ],
      reasonCodes: 0,
    });
    expect(
      scored.results.map((result) =>
        result.outcome?.$case === 'prediction' ? result.outcome.value.featureSource : result.outcome,
      ),
    ).toEqual([FeatureSource.FEATURE_SOURCE_STORE, FeatureSource.FEATURE_SOURCE_INLINE]);
    const adminClient = createModelAdminClient(t.address);
    try {
      await adminClient.setKillSwitch({
        model: 'clv',
        mode: KillSwitchMode.KILL_SWITCH_MODE_OFF,
        reason: '',
      });
    } finally {
      adminClient.close();
    }

    // A scoring run: its day partition is created (by the owner's function) and written to.
    const score = await runBatchCli('score', ['--model', 'churn', '--run-id', 'least-privilege'], {
      DATABASE_URL: batch.url,
      SCORING_ADDRESS: t.address,
    });
    expect(score.stderr).toMatch(/scored 3000 customers, 0 failed/);
    expect(score.code).toBe(0);
    // A training run reads features and labels and registers its candidates through the server's admin API
    // (the gate is irrelevant here).
    const train = await runBatchCli('train', ['--model', 'clv', '--margin', '1'], {
      DATABASE_URL: batch.url,
      ADMIN_ADDRESS: t.address,
    });
    expect(train.stderr).toBe('');
    expect(train.code).toBe(0);

    await t.close(); // flushes the audit log
    t = undefined;
    const counts = await admin.query<{
      audit: number;
      predictions: number;
      versions: number;
      events: number;
    }>(
      `SELECT (SELECT count(*)::int FROM prediction_audit) AS audit,
              (SELECT count(*)::int FROM batch_predictions WHERE run_id = 'least-privilege') AS predictions,
              (SELECT count(*)::int FROM model_versions WHERE model = 'clv') AS versions,
              (SELECT count(*)::int FROM model_registry_events WHERE actor <> '') AS events`,
    );
    // clv: the bundled version 1 and one candidate per model family (linear, trees).
    expect(counts.rows[0]).toMatchObject({ audit: 2, predictions: customers, versions: 3 });
    expect(counts.rows[0]!.events).toBeGreaterThanOrEqual(1);
    // The partitions belong to the schema owner, not to a login role that Vault would fail to drop.
    const owners = await admin.query<{ owner: string }>(
      `SELECT DISTINCT tableowner AS owner FROM pg_tables
       WHERE tablename LIKE 'batch\\_predictions\\_%' OR tablename LIKE 'prediction\\_audit\\_%'`,
    );
    expect(owners.rows.map((row) => row.owner)).toEqual([
      (await admin.query<{ user: string }>('SELECT current_user AS user')).rows[0]!.user,
    ]);

    // And no more than that.
    expect(await outcomeAs(server.url, 'DELETE FROM customer_features')).toBe(
      'permission denied for table customer_features',
    );
    expect(await outcomeAs(server.url, 'CREATE TABLE intruder (id int)')).toBe(
      'permission denied for schema public',
    );
    expect(
      await outcomeAs(batch.url, 'INSERT INTO prediction_audit_batches VALUES (gen_random_uuid(), now())'),
    ).toBe('permission denied for table prediction_audit_batches');
    expect(await outcomeAs(batch.url, 'DROP TABLE customer_labels')).toBe(
      'must be owner of table customer_labels',
    );
    // The owner's partition functions: each role only the one it needs (and PUBLIC neither).
    expect(await outcomeAs(batch.url, 'SELECT prediction_audit_partition(current_date)')).toBe(
      'permission denied for function prediction_audit_partition',
    );
    expect(await outcomeAs(server.url, 'SELECT batch_predictions_partition(current_date)')).toBe(
      'permission denied for function batch_predictions_partition',
    );
    // The registry is the server's to write: the batch jobs go through its admin API.
    expect(await outcomeAs(batch.url, "UPDATE models SET default_version = '1'")).toBe(
      'permission denied for table models',
    );
  });
});

describe('npm run migrate -- --grant-roles', () => {
  it('grants the roles on a fresh database after migrating it, and plain migrate does not', async () => {
    const url = await createEmptyDatabase(inject('postgresUrl'), fresh);
    const migrate = (...args: string[]) =>
      run(process.execPath, ['--import', 'tsx', 'server/src/db/migrate-cli.ts', ...args], {
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/tmp',
          DATABASE_URL: url,
          LOG_LEVEL: 'warn',
        },
      });
    const granted = async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query<{ server: boolean; batch: boolean }>(
          `SELECT has_table_privilege('customer_intelligence_server', 'prediction_audit', 'INSERT') AS server,
                  has_table_privilege('customer_intelligence_batch', 'batch_runs', 'UPDATE') AS batch`,
        );
        return rows[0];
      } finally {
        await client.end();
      }
    };
    await migrate();
    expect(await granted()).toEqual({ server: false, batch: false });
    await migrate('--grant-roles');
    expect(await granted()).toEqual({ server: true, batch: true });
    await expect(migrate('--grant-role')).rejects.toMatchObject({
      stderr: expect.stringMatching(/^migrate: Unknown option '--grant-role'/),
    });
  });
});

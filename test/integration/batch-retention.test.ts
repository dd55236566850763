import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listDayPartitions } from '../../batch/src/predictions/prediction-partitions.js';
import { runBatchCli } from '../helpers/batch-cli.js';
import { cloneDatabase, dropDatabase } from '../helpers/test-postgres.js';

// `npm run batch:retention` against batch runs and audit-log partitions of several ages.
const database = `test_batch_retention_${randomBytes(4).toString('hex')}`;
let databaseUrl: string;
let db: pg.Pool;
/** Ages of the batch runs in days; retention 30 keeps 30 days ago and later. */
const AGES = [40, 31, 30, 1, 0];
/** Ages of the online audit log's partitions. */
const AUDIT_AGES = [40, 0];

beforeAll(async () => {
  databaseUrl = await cloneDatabase(inject('postgresUrl'), inject('templateDatabase'), database);
  db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  for (const age of AGES) {
    const runDate = `((now() AT TIME ZONE 'UTC')::date - ${age})`;
    const runId = `age-${age}`;
    await db.query(
      `INSERT INTO batch_runs (run_id, model, model_version, run_date, shard_count, status, finished_at)
       VALUES ($1, 'churn', '1', ${runDate}, 1, 'succeeded', now())`,
      [runId],
    );
    await db.query(`SELECT batch_predictions_partition(${runDate})`);
    await db.query(
      `INSERT INTO batch_run_shards (run_id, model, shard_index, status) VALUES ($1, 'churn', 0, 'succeeded')`,
      [runId],
    );
    await db.query(
      `INSERT INTO batch_predictions (run_date, run_id, model, customer_id, model_version, score, scored_at)
       SELECT ${runDate}, $1, 'churn', customer_id, '1', 0.5, now() FROM customer_features LIMIT 100`,
      [runId],
    );
  }
  for (const age of AUDIT_AGES) {
    await db.query(`SELECT prediction_audit_partition((now() AT TIME ZONE 'UTC')::date - ${age})`);
  }
});
afterAll(async () => {
  await db?.end();
  await dropDatabase(inject('postgresUrl'), database);
});

const partitionNames = async (table: 'batch_predictions' | 'prediction_audit') =>
  (await listDayPartitions(db, table)).map((partition) => partition.name);
const day = (age: number) => {
  const date = new Date();
  date.setUTCDate(date.getUTCDate() - age);
  return date.toISOString().slice(0, 10).replaceAll('-', '');
};

const remainingRuns = async () =>
  (await db.query<{ run_id: string }>('SELECT run_id FROM batch_runs ORDER BY run_date')).rows.map(
    (r) => r.run_id,
  );

describe('npm run batch:retention', () => {
  it('lists what it would drop in a dry run, and drops nothing', async () => {
    const run = await runBatchCli('retention', ['--retention-days', '30', '--dry-run'], {
      DATABASE_URL: databaseUrl,
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/would drop 3 partitions and 2 runs; 4 partitions kept/);
    expect(run.stdout).toContain(`would drop prediction_audit prediction_audit_${day(40)}`);
    expect(await partitionNames('batch_predictions')).toHaveLength(5);
    expect(await partitionNames('prediction_audit')).toHaveLength(2);
  });

  it('drops the partitions and runs older than the retention, and only those', async () => {
    const run = await runBatchCli('retention', ['--retention-days', '30'], { DATABASE_URL: databaseUrl });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/dropped 3 partitions and 2 runs; 4 partitions kept/);
    expect(await remainingRuns()).toEqual(['age-30', 'age-1', 'age-0']);
    const { rows } = await db.query<{ run_id: string; n: number }>(
      'SELECT run_id, count(*)::int AS n FROM batch_predictions GROUP BY run_id ORDER BY run_id',
    );
    expect(rows).toEqual([
      { run_id: 'age-0', n: 100 },
      { run_id: 'age-1', n: 100 },
      { run_id: 'age-30', n: 100 },
    ]);
    expect(await partitionNames('batch_predictions')).toEqual(
      [30, 1, 0].map((age) => `batch_predictions_${day(age)}`),
    );
    expect(await partitionNames('prediction_audit')).toEqual([`prediction_audit_${day(0)}`]);
    // Shards went with their runs.
    const shards = await db.query("SELECT 1 FROM batch_run_shards WHERE run_id IN ('age-40', 'age-31')");
    expect(shards.rowCount).toBe(0);

    const again = await runBatchCli('retention', [], {
      DATABASE_URL: databaseUrl,
      BATCH_RETENTION_DAYS: '30',
    });
    expect(again.stdout).toMatch(/dropped 0 partitions and 0 runs; 4 partitions kept/);
  });

  it('rejects a bad retention with a usage error naming the flag', async () => {
    const run = await runBatchCli('retention', ['--retention-days', 'ten'], { DATABASE_URL: databaseUrl });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/retention: --retention-days: expected an integer from 0 to 36500, got "ten"/);
  });
});

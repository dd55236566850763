import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { seedIfEmpty } from '../../server/src/demo-data/seed.js';
import { closePool, createPool } from '../../server/src/db/pool.js';
import { createLogger } from '../../server/src/telemetry/logger.js';
import { isReady, kubectl, kubectlJson, podsOf, waitUntil } from '../helpers/cluster.js';
import { installRelease, type Release } from '../helpers/release.js';

/**
 * The CronJobs as they run in production, started by hand as an operator would (`kubectl create job --from`):
 * the churn scoring job (an Indexed Job of two shards streaming through the server's headless Service with TLS
 * and the batch API key) and the weekly training (registers candidates through the server's admin API with
 * the admin key; the replicas pick up what the gate decided).
 */
const CUSTOMERS = 2_000;

let release: Release;
let database: pg.Client;

beforeAll(async () => {
  release = await installRelease({ name: 'batch', postgresUrl: inject('postgresUrl') });
  // The synthetic population, written from the host once the migration hook has made the tables.
  const pool = createPool({
    connectionString: release.databaseUrl,
    max: 2,
    connectTimeoutMs: 5_000,
    applicationName: 'cluster-test-seed',
    logger: createLogger({ level: 'silent' }),
  });
  try {
    await seedIfEmpty({ pool, count: CUSTOMERS, logger: createLogger({ level: 'silent' }) });
  } finally {
    await closePool(pool);
  }
  database = new pg.Client({ connectionString: release.databaseUrl });
  await database.connect();
});
afterAll(async () => {
  await database?.end();
  await release?.destroy();
});

/** Creates a Job from one of the release's CronJobs and waits until it completes; returns its name and time. */
async function runCronJob(job: string, timeoutSeconds = 600): Promise<{ name: string; seconds: number }> {
  const cronJob = `${release.fullname}-${job}`;
  const name = `${job}-by-hand`;
  const started = performance.now();
  await kubectl(['create', 'job', name, `--from=cronjob/${cronJob}`, '-n', release.namespace]);
  try {
    await kubectl([
      'wait',
      '--for=condition=Complete',
      `job/${name}`,
      '-n',
      release.namespace,
      `--timeout=${timeoutSeconds}s`,
    ]);
  } catch (error) {
    const logs = await kubectl([
      'logs',
      '-n',
      release.namespace,
      `job/${name}`,
      '--all-containers',
      '--tail=40',
    ]).catch(String);
    throw new Error(`job ${name} did not complete:\n${logs}`, { cause: error });
  }
  return { name, seconds: (performance.now() - started) / 1000 };
}

describe('batch CronJobs', () => {
  it('scores every seeded customer exactly once with an Indexed Job of two shards', async () => {
    const { name, seconds } = await runCronJob('score-churn');
    const job = await kubectlJson<{
      spec: { completions: number; completionMode: string };
      status: { succeeded: number };
    }>(['get', 'job', name, '-n', release.namespace]);
    const { rows } = await database.query<{ rows: string; customers: string }>(
      'SELECT count(*) AS rows, count(DISTINCT customer_id) AS customers FROM batch_predictions WHERE run_id = $1',
      [name],
    );
    const shards = await database.query<{ shard_index: number; scored: string }>(
      'SELECT shard_index, customers_scored AS scored FROM batch_run_shards WHERE run_id = $1 ORDER BY shard_index',
      [name],
    );
    const run = await database.query<{ status: string }>('SELECT status FROM batch_runs WHERE run_id = $1', [
      name,
    ]);
    process.stdout.write(
      `batch scoring job: ${seconds.toFixed(1)} s, ${job.spec.completions} shards, rows expected ${CUSTOMERS}, ` +
        `found ${rows[0]!.rows} (${rows[0]!.customers} distinct customers), per shard ` +
        `${JSON.stringify(shards.rows.map((shard) => Number(shard.scored)))}\n`,
    );
    expect(job.spec).toMatchObject({ completions: 2, completionMode: 'Indexed' });
    expect(job.status.succeeded).toBe(2);
    expect(Number(rows[0]!.rows)).toBe(CUSTOMERS);
    expect(Number(rows[0]!.customers)).toBe(CUSTOMERS);
    expect(shards.rows.map((shard) => shard.shard_index)).toEqual([0, 1]);
    expect(shards.rows.every((shard) => Number(shard.scored) > 0)).toBe(true);
    expect(run.rows[0]!.status).toBe('succeeded');
  });

  it('registers the training run in the registry, and every replica serves what the gate decided', async () => {
    const before = await database.query<{ model: string; versions: string }>(
      'SELECT model, count(*) AS versions FROM model_versions GROUP BY model ORDER BY model',
    );
    const { seconds } = await runCronJob('train');
    const after = await database.query<{ model: string; versions: string }>(
      'SELECT model, count(*) AS versions FROM model_versions GROUP BY model ORDER BY model',
    );
    const defaults = await database.query<{ model: string; default_version: string }>(
      'SELECT model, default_version FROM models ORDER BY model',
    );
    process.stdout.write(
      `training job: ${seconds.toFixed(1)} s; versions before ${JSON.stringify(before.rows)}, after ` +
        `${JSON.stringify(after.rows)}; defaults ${JSON.stringify(defaults.rows)}\n`,
    );
    for (const model of ['churn', 'clv']) {
      const count = (rows: typeof after.rows) =>
        Number(rows.find((row) => row.model === model)?.versions ?? 0);
      // One candidate per model family (linear, trees), each registered whether or not the gate promotes it.
      expect(count(after.rows)).toBe(count(before.rows) + 2);
    }

    // Each replica, asked directly on its pod address, converges on the registry's default.
    const pods = (await podsOf(release.namespace, release.selector)).filter(isReady);
    expect(pods.length).toBeGreaterThanOrEqual(2);
    for (const pod of pods) {
      const client = release.client({ address: `${pod.status.podIP!}:50051` });
      try {
        for (const { model, default_version: expected } of defaults.rows) {
          await waitUntil(
            `${pod.metadata.name} to serve ${model}@${expected}`,
            async () => {
              const served = await client.getModel({ name: model, version: '' });
              return served.model?.defaultVersion === expected;
            },
            { timeoutMs: 30_000 },
          );
        }
      } finally {
        client.close();
      }
    }
  });
});

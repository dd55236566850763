import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { hashApiKey } from '../../server/src/security/api-key-authenticator.js';
import { freePort } from '../helpers/free-port.js';
import { runBatchCli } from '../helpers/batch-cli.js';
import { startServerOn, startTestServer, type TestServer } from './setup/test-server.js';

// `npm run batch:score` as a process, against the real server (in this process) and a clone of the seeded
// template database.
let t: TestServer;
let db: pg.Pool;
let env: Record<string, string>;
const customers = inject('templateCustomers');

beforeAll(async () => {
  t = await startTestServer();
  db = new pg.Pool({ connectionString: t.databaseUrl, max: 2 });
  env = { DATABASE_URL: t.databaseUrl, SCORING_ADDRESS: t.address };
});
afterAll(async () => {
  await db?.end();
  await t?.close();
});

async function one<T>(sql: string, params: unknown[] = []): Promise<T> {
  const { rows } = await db.query(sql, params);
  return rows[0] as T;
}

describe('npm run batch:score', () => {
  it('scores every customer of the database exactly once and records the run', async () => {
    const run = await runBatchCli(
      'score',
      ['--model', 'churn', '--run-id', 'full-1', '--chunk-size', '250'],
      env,
    );
    expect(run.stderr).toMatch(/churn@1 run full-1 shard 0\/1: scored 3000 customers, 0 failed/);
    expect(run.code).toBe(0);

    const counts = await one<{ rows: number; customers: number; versions: string[]; bad: number }>(
      `SELECT count(*)::int AS rows, count(DISTINCT customer_id)::int AS customers,
              array_agg(DISTINCT model_version) AS versions,
              count(*) FILTER (WHERE score < 0 OR score > 1 OR jsonb_array_length(reason_codes) <> 3)::int AS bad
       FROM batch_predictions WHERE run_id = 'full-1' AND model = 'churn'`,
    );
    expect(counts).toEqual({ rows: customers, customers, versions: ['1'], bad: 0 });
    const missing = await one<{ n: number }>(
      `SELECT count(*)::int AS n FROM customer_features f
       WHERE NOT EXISTS (SELECT 1 FROM batch_predictions p WHERE p.run_id = 'full-1' AND p.customer_id = f.customer_id)`,
    );
    expect(missing.n).toBe(0);

    const runRow = await one<Record<string, unknown>>(
      `SELECT model_version, status, customers_scored::int, customers_failed::int, shard_count,
              finished_at >= started_at AS finished, run_date = (now() AT TIME ZONE 'UTC')::date AS today
       FROM batch_runs WHERE run_id = 'full-1' AND model = 'churn'`,
    );
    expect(runRow).toEqual({
      model_version: '1',
      status: 'succeeded',
      customers_scored: customers,
      customers_failed: 0,
      shard_count: 1,
      finished: true,
      today: true,
    });

    // The stored score is the one the online API gives for the same customer.
    const stored = await one<{ score: number; reason_codes: Array<{ feature: string }> }>(
      "SELECT score, reason_codes FROM batch_predictions WHERE run_id = 'full-1' AND customer_id = '42'",
    );
    const online = await t.client.score({
      model: 'churn',
      modelVersion: '1',
      customers: [{ customerId: '42', features: {} }],
      reasonCodes: 3,
    });
    const prediction = online.results[0]!.outcome;
    expect(prediction?.$case).toBe('prediction');
    if (prediction?.$case === 'prediction') {
      expect(stored.score).toBe(prediction.value.score);
      expect(stored.reason_codes.map((r) => r.feature)).toEqual(
        prediction.value.reasonCodes.map((r) => r.feature),
      );
    }
  });

  it('does nothing for a run that already succeeded', async () => {
    const run = await runBatchCli('score', ['--model', 'churn', '--run-id', 'full-1'], env);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/had already scored 3000 customers, 0 failed; run succeeded/);
    const shard = await one<{ attempts: number; rows: number }>(
      `SELECT attempts, (SELECT count(*)::int FROM batch_predictions WHERE run_id = 'full-1') AS rows
       FROM batch_run_shards WHERE run_id = 'full-1'`,
    );
    expect(shard).toEqual({ attempts: 1, rows: customers });
  });

  it('counts and keeps customers that cannot be scored, and exits 1', async () => {
    await db.query("INSERT INTO customer_features (customer_id, tenure_months) VALUES ('zz-incomplete', 3)");
    try {
      const run = await runBatchCli('score', ['--model', 'clv', '--run-id', 'with-failure'], env);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/scored 3000 customers, 1 failed/);
      expect(run.stderr).toMatch(/1 customers could not be scored; see batch_item_errors/);
      const error = await one<Record<string, unknown>>(
        "SELECT customer_id, code, reason FROM batch_item_errors WHERE run_id = 'with-failure'",
      );
      expect(error).toEqual({ customer_id: 'zz-incomplete', code: 9, reason: 'ERR_FEATURES_MISSING' });
      const runRow = await one<Record<string, unknown>>(
        "SELECT status, customers_scored::int, customers_failed::int FROM batch_runs WHERE run_id = 'with-failure'",
      );
      expect(runRow).toEqual({ status: 'failed', customers_scored: customers, customers_failed: 1 });
    } finally {
      await db.query("DELETE FROM customer_features WHERE customer_id = 'zz-incomplete'");
    }
  });

  it('rejects invalid shard arguments with a usage error naming the flag', async () => {
    const cases: Array<[args: string[], extraEnv: Record<string, string>, message: RegExp]> = [
      [
        ['--shard-index', '2', '--shard-count', '2'],
        {},
        /--shard-index: must be below --shard-count \(2\), got 2/,
      ],
      [['--shard-count', '0'], {}, /--shard-count: expected an integer from 1 to 10000, got "0"/],
      [
        ['--shard-count', '4'],
        { JOB_COMPLETION_INDEX: 'two' },
        /JOB_COMPLETION_INDEX \(the default of --shard-index\): expected an integer/,
      ],
      [
        ['--shard-count', '2'],
        { JOB_COMPLETION_INDEX: '3' },
        /JOB_COMPLETION_INDEX \(the default of --shard-index\): must be below --shard-count \(2\), got 3/,
      ],
    ];
    const runs = await Promise.all(
      cases.map(([args, extraEnv]) =>
        runBatchCli('score', ['--model', 'churn', '--run-id', 'bad-args', ...args], { ...env, ...extraEnv }),
      ),
    );
    runs.forEach((run, i) => {
      expect(run.stderr).toMatch(cases[i]![2]);
      expect(run.stderr).toMatch(/Usage: npm run batch:score/);
      expect(run.code).toBe(2);
    });
    // A shard count that disagrees with the run's is a usage error too, caught before anything is written.
    const conflicting = await runBatchCli(
      'score',
      ['--model', 'churn', '--run-id', 'full-1', '--shard-count', '3'],
      env,
    );
    expect(conflicting.code).toBe(2);
    expect(conflicting.stderr).toMatch(
      /--shard-count: run full-1 \(churn\) was started with 1 shards, got 3/,
    );
    expect(
      await one<{ n: number }>("SELECT count(*)::int AS n FROM batch_runs WHERE run_id = 'bad-args'"),
    ).toEqual({
      n: 0,
    });
  });

  it('fails clearly when the server cannot be reached at start', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    const run = await runBatchCli(
      'score',
      ['--model', 'churn', '--run-id', 'no-server', '--address', address, '--connect-timeout-ms', '500'],
      env,
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `score: cannot reach the scoring server at ${address} within 500 ms (UNAVAILABLE`,
    );
    expect(
      await one<{ n: number }>("SELECT count(*)::int AS n FROM batch_runs WHERE run_id = 'no-server'"),
    ).toEqual({
      n: 0,
    });
  });

  it('authenticates with a batch-role key from the environment, and reports a refused credential', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ci-batch-auth-'));
    const keys = {
      batch: `ci_${randomBytes(24).toString('base64url')}`,
      scorer: `ci_${randomBytes(24).toString('base64url')}`,
    };
    await writeFile(
      path.join(dir, 'api-keys.json'),
      JSON.stringify([
        { name: 'job-batch', sha256: hashApiKey(keys.batch), roles: ['batch'] },
        { name: 'svc-online', sha256: hashApiKey(keys.scorer), roles: ['scorer'] },
      ]),
    );
    await writeFile(path.join(dir, 'batch-key'), `${keys.batch}\n`);
    const secured = await startServerOn(t.databaseUrl, {
      AUTH_MODE: 'required',
      API_KEYS_FILE: path.join(dir, 'api-keys.json'),
    });
    try {
      const securedEnv = { DATABASE_URL: t.databaseUrl, SCORING_ADDRESS: secured.address };
      const args = (runId: string) => ['--model', 'churn', '--run-id', runId];
      const [fromFile, wrongRole, none] = await Promise.all([
        runBatchCli('score', args('auth-ok'), {
          ...securedEnv,
          SCORING_API_KEY_FILE: path.join(dir, 'batch-key'),
        }),
        runBatchCli('score', args('auth-scorer'), { ...securedEnv, SCORING_API_KEY: keys.scorer }),
        runBatchCli('score', args('auth-none'), securedEnv),
      ]);
      expect(fromFile.stderr).toMatch(/scored 3000 customers, 0 failed/);
      expect(fromFile.code).toBe(0);
      expect(wrongRole.code).toBe(1);
      expect(wrongRole.stderr).toMatch(/score: the scoring server answered PERMISSION_DENIED/);
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(/score: the scoring server answered UNAUTHENTICATED/);
      for (const run of [fromFile, wrongRole, none])
        expect(run.stdout + run.stderr).not.toContain(keys.batch);
    } finally {
      await secured.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

import { ClientError, Status } from 'nice-grpc';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './setup/test-server.js';

// A slow database, made deterministic: another session holds an exclusive lock on the feature table,
// so every feature query blocks until the lock goes or statement_timeout cancels it.
let t: TestServer;
let locker: pg.Client;
beforeAll(async () => {
  t = await startTestServer({
    FEATURE_QUERY_TIMEOUT_MS: '400',
    REQUEST_TIMEOUT_MS: '2000',
    FEATURE_BREAKER_VOLUME_THRESHOLD: '100',
  });
  locker = new pg.Client({ connectionString: t.databaseUrl });
  await locker.connect();
});
afterAll(async () => {
  await locker?.end();
  await t?.close();
});

const byId = (deadline?: number) =>
  t.client.score(
    { model: 'churn', modelVersion: '', customers: [{ customerId: '11', features: {} }], reasonCodes: 0 },
    deadline === undefined ? {} : { deadline },
  );

async function failure(call: Promise<unknown>): Promise<ClientError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ClientError)) throw new Error(`expected a ClientError, got ${String(error)}`);
  return error;
}

describe('deadlines with a slow database', () => {
  it('ends calls at the client deadline and bounds the query with statement_timeout', async () => {
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE customer_features IN ACCESS EXCLUSIVE MODE');
    try {
      const short = await failure(byId(150));
      expect(Status[short.code]).toBe('DEADLINE_EXCEEDED');

      // Without a short client deadline, the query's own timeout (below REQUEST_TIMEOUT_MS) answers first.
      const slow = await failure(byId());
      expect(Status[slow.code]).toBe('UNAVAILABLE');
      expect(slow.details).toMatch(/feature store is unavailable/);

      // Inline scoring never waits for the database.
      const inline = await t.client.score({
        model: 'churn',
        modelVersion: '',
        customers: [
          {
            customerId: '',
            features: {
              tenure_months: 1,
              plan_tier: 0,
              monthly_charges: 30,
              contract_months: 0,
              autopay: 0,
              usage_trend: -0.5,
              support_tickets_90d: 4,
              payment_failures_90d: 2,
              days_since_last_activity: 20,
              sessions_30d: 1,
              spend_12m: 60,
            },
          },
        ],
        reasonCodes: 0,
      });
      expect(inline.results[0]?.outcome?.$case).toBe('prediction');

      // statement_timeout cancelled the blocked feature queries: none is still running.
      const { rows } = await locker.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'ci-server-features' AND state = 'active'",
      );
      expect(rows[0]!.n).toBe(0);
    } finally {
      await locker.query('ROLLBACK');
    }
    expect((await byId()).results[0]?.outcome?.$case).toBe('prediction');
  });
});

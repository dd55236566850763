import { Metadata } from 'nice-grpc';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './setup/test-server.js';

let audited: TestServer;
let unaudited: TestServer;
beforeAll(async () => {
  [audited, unaudited] = await Promise.all([
    startTestServer({ AUDIT_FLUSH_INTERVAL_MS: '50' }),
    startTestServer({ AUDIT_SAMPLE_RATE: '0' }),
  ]);
});
afterAll(async () => {
  await unaudited?.close();
});

async function auditRows(databaseUrl: string) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{
      request_id: string;
      customer_id: string;
      model: string;
      model_version: string;
      score: number;
      feature_source: string;
      trace_id: string | null;
      principal: string | null;
      predicted_at: Date;
    }>('SELECT * FROM prediction_audit ORDER BY request_id, customer_id');
    return rows;
  } finally {
    await client.end();
  }
}

const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';

describe('the online prediction audit log', () => {
  it('records every prediction of a Score call, asynchronously, and flushes what is queued at shutdown', async () => {
    const scores: number[] = [];
    const before = new Date();
    for (let i = 1; i <= 20; i++) {
      const { results } = await audited.client.score(
        {
          model: i % 2 === 0 ? 'churn' : 'clv',
          modelVersion: '',
          customers: [
            { customerId: String(i), features: {} },
            { customerId: 'nobody', features: {} },
          ],
          reasonCodes: 0,
        },
        {
          metadata: Metadata({
            'x-request-id': `req-${String(i).padStart(2, '0')}`,
            traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
          }),
        },
      );
      scores.push(results[0]?.outcome?.$case === 'prediction' ? results[0].outcome.value.score : NaN);
    }
    const after = new Date();
    // Shutting down writes whatever is still queued.
    await audited.server.shutdown();
    const rows = await auditRows(audited.databaseUrl);
    // One row per prediction; the per-item NOT_FOUND for "nobody" is not a prediction.
    expect(rows).toHaveLength(20);
    expect(rows[0]).toMatchObject({
      request_id: 'req-01',
      customer_id: '1',
      model: 'clv',
      model_version: '1',
      feature_source: 'store',
      principal: null,
      trace_id: traceId,
    });
    expect(rows.map((row) => row.score)).toEqual(scores);
    // When the server made each prediction, to the millisecond (it travels as epoch milliseconds).
    for (const row of rows) {
      expect(row.predicted_at.getTime()).toBeGreaterThanOrEqual(before.getTime());
      expect(row.predicted_at.getTime()).toBeLessThanOrEqual(after.getTime());
    }
    await audited.close();
  });

  it('writes nothing when sampling is off', async () => {
    await unaudited.client.score({
      model: 'churn',
      modelVersion: '',
      customers: [{ customerId: '3', features: {} }],
      reasonCodes: 0,
    });
    await unaudited.server.shutdown();
    expect(await auditRows(unaudited.databaseUrl)).toEqual([]);
  });
});

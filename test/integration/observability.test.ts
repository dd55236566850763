import pg from 'pg';
import { Status } from 'nice-grpc';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ScoreStreamRequest } from '../../client/src/scoring-client.js';
import { dashboardExpressions, metricNames, rules } from '../helpers/observability-files.js';
import { startTestServer, type TestServer } from './setup/test-server.js';

let t: TestServer;
let scrape: string;

/** Sample value of one series in a Prometheus text scrape, e.g. `grpc_server_handled_total{...}`. */
function sample(name: string, labels: Record<string, string>): number | undefined {
  for (const line of scrape.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const matches = Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`));
    if (matches) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

let runFinishedAt: number;

beforeAll(async () => {
  t = await startTestServer({ DRIFT_WINDOW: '100' });
  // A finished batch run, as the score CLI records it.
  const db = new pg.Client({ connectionString: t.databaseUrl });
  await db.connect();
  const { rows } = await db.query<{ finished: number }>(
    `INSERT INTO batch_runs (run_id, model, model_version, run_date, shard_count, status, finished_at)
     VALUES ('observability-test', 'churn', '1', current_date, 1, 'succeeded', now())
     RETURNING extract(epoch FROM finished_at)::float8 AS finished`,
  );
  runFinishedAt = rows[0]!.finished;
  await db.end();
  // A workload that touches every code path the metrics describe.
  for (let i = 1; i <= 120; i++) {
    await t.client.score({
      model: 'churn',
      modelVersion: '',
      customers: [{ customerId: String(i), features: {} }],
      reasonCodes: 1,
    });
  }
  await t.client.score({
    model: 'clv',
    modelVersion: '',
    customers: [
      { customerId: '5', features: {} },
      { customerId: 'unknown-customer', features: {} },
    ],
    reasonCodes: 0,
  });
  await t.client
    .score({
      model: 'nope',
      modelVersion: '',
      customers: [{ customerId: '1', features: {} }],
      reasonCodes: 0,
    })
    .catch(() => undefined);
  const chunks: ScoreStreamRequest[] = [1, 2].map((c) => ({
    chunkId: String(c),
    model: 'churn',
    modelVersion: '',
    customers: [{ customerId: String(c), features: {} }],
    reasonCodes: 0,
  }));
  async function* send() {
    for (const chunk of chunks) yield await Promise.resolve(chunk);
  }
  for await (const _ of t.client.scoreStream(send())) {
    // drain
  }
  // The audit log writes its batches in the background (AUDIT_FLUSH_INTERVAL_MS): scrape once one has been written,
  // or a busy machine scrapes before the audit metrics exist.
  await vi.waitFor(
    async () => {
      const response = await fetch(`http://127.0.0.1:${t.server.metricsPort}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
      scrape = await response.text();
      expect(scrape).toMatch(/^ci_audit_rows_total\{/m);
    },
    { timeout: 15_000, interval: 100 },
  );
});
afterAll(() => t?.close());

describe('GET /metrics after a workload', () => {
  const score = { grpc_service: 'customer_intelligence.scoring.v1.ScoringService', grpc_method: 'Score' };

  it('counts calls by method and status code, with latency histograms', () => {
    expect(sample('grpc_server_handled_total', { ...score, grpc_code: 'OK' })).toBe(121);
    expect(sample('grpc_server_handled_total', { ...score, grpc_code: 'NOT_FOUND' })).toBe(1);
    expect(sample('grpc_server_started_total', { ...score, grpc_type: 'unary' })).toBe(122);
    expect(
      sample('grpc_server_handled_total', {
        grpc_method: 'ScoreStream',
        grpc_type: 'bidi_stream',
        grpc_code: 'OK',
      }),
    ).toBe(1);
    expect(sample('grpc_server_handling_seconds_count', score)).toBe(122);
    expect(sample('grpc_server_handling_seconds_bucket', { ...score, le: '+Inf' })).toBe(122);
    expect(sample('ci_in_flight_requests', {})).toBe(0);
  });

  it('describes the pipeline: feature source, item errors, stage timings and batch sizes', () => {
    expect(sample('ci_predictions_total', { model: 'churn', version: '1', source: 'store' })).toBe(122);
    expect(sample('ci_predictions_total', { model: 'clv', version: '1', source: 'store' })).toBe(1);
    expect(sample('ci_item_errors_total', { reason: 'ERR_CUSTOMER_NOT_FOUND' })).toBe(1);
    // 122 rows; the two stream chunks are in flight together and may share one ONNX run (micro-batching).
    expect(sample('ci_inference_batch_size_sum', { model: 'churn', version: '1' })).toBe(122);
    const runs = sample('ci_inference_seconds_count', { model: 'churn', version: '1' });
    expect(runs).toBeGreaterThanOrEqual(121);
    expect(runs).toBeLessThanOrEqual(122);
    expect(sample('ci_feature_fetch_seconds_count', { outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    // 120 + 1 unary lookups and 2 stream chunks; the unknown-model call never reaches the store.
    expect(sample('ci_queue_wait_seconds_count', { queue: 'feature_lookup' })).toBe(123);
  });

  it('exports models, breaker, pools and drift', () => {
    expect(sample('ci_model_version_info', { model: 'churn', version: '1', default: 'true' })).toBe(1);
    expect(sample('ci_model_ready', { model: 'clv' })).toBe(1);
    expect(sample('ci_breaker_state', { breaker: 'feature-store' })).toBe(0);
    expect(sample('ci_db_pool_connections', { pool: 'features', state: 'total' })).toBeGreaterThanOrEqual(1);
    // 122 churn rows served from the seeded population, which is the training population: no drift.
    const psi = sample('ci_feature_drift_psi', { model: 'churn', version: '1', feature: 'tenure_months' });
    expect(psi).toBeGreaterThanOrEqual(0);
    expect(psi).toBeLessThan(0.25);
    expect(sample('process_resident_memory_bytes', {})).toBeGreaterThan(0);
    expect(sample('ci_batch_last_success_timestamp_seconds', { model: 'churn' })).toBeCloseTo(
      runFinishedAt,
      3,
    );
  });

  it('has every metric that the dashboard and the alerts use', () => {
    const scraped = new Set(
      scrape
        .split('\n')
        .flatMap((line) => (line.startsWith('#') || line === '' ? [] : [/^[^{ ]+/.exec(line)![0]])),
    );
    const used = new Set(
      [...dashboardExpressions(), ...rules().map((rule) => rule.expr)].flatMap(metricNames),
    );
    // Exported by kube-state-metrics in the cluster, not by this server.
    const external = [...used].filter((name) => name.startsWith('kube_'));
    // Only exported with Vault dynamic credentials; test/integration/vault.test.ts scrapes it there.
    external.push('ci_vault_lease_remaining_seconds');
    const missing = [...used].filter((name) => !scraped.has(name) && !external.includes(name));
    expect(used.size).toBeGreaterThan(10);
    expect(missing).toEqual([]);
  });
});

describe('with METRICS_ENABLED=false', () => {
  it('serves calls with no metrics layer and no /metrics endpoint', async () => {
    const quiet = await startTestServer({ METRICS_ENABLED: 'false' });
    try {
      expect(quiet.server.metricsPort).toBeUndefined();
      const { results } = await quiet.client.score({
        model: 'churn',
        modelVersion: '',
        customers: [{ customerId: '42', features: {} }],
        reasonCodes: 0,
      });
      expect(results[0]?.outcome?.$case).toBe('prediction');
      // Errors are still mapped to a proper status without the metrics layer around them.
      await expect(
        quiet.client.score({
          model: 'no-such-model',
          modelVersion: '',
          customers: [{ customerId: '42', features: {} }],
          reasonCodes: 0,
        }),
      ).rejects.toMatchObject({ code: Status.NOT_FOUND });
    } finally {
      await quiet.close();
    }
  });
});

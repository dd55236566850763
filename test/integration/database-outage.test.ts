import { ClientError } from 'nice-grpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeatureSource } from '../../client/src/scoring-client.js';
import { FEATURE_STORE_HEALTH_SERVICE } from '../../server/src/grpc/health.js';
import { createHealthClient, ServingStatus, type HealthClient } from '../helpers/health-client.js';
import { createSeededDatabase, startTestPostgres, type TestPostgres } from '../helpers/test-postgres.js';
import { startServerOn, type TestServer } from './setup/test-server.js';
import { SAMPLE_FEATURES } from '../helpers/sample-features.js';
import { statusOf } from '../helpers/status-of.js';

// This file stops and restarts its own Postgres, so it does not share the global one.
let postgres: TestPostgres;
let t: TestServer;
let withFallback: TestServer;
let health: HealthClient;

beforeAll(async () => {
  postgres = await startTestPostgres();
  const url = await createSeededDatabase(postgres.url, 'outage', 200);
  const env = {
    FEATURE_BREAKER_RESET_MS: '500',
    FEATURE_BREAKER_VOLUME_THRESHOLD: '2',
    DATABASE_CONNECT_TIMEOUT_MS: '1000',
  };
  t = await startServerOn(url, env);
  withFallback = await startServerOn(url, { ...env, FEATURE_FALLBACK: 'population-mean' });
  health = createHealthClient(t.address);
});

afterAll(async () => {
  health?.close();
  await t?.close();
  await withFallback?.close();
  await postgres?.destroy();
});

const byId = (client = t.client, customerId = '5') =>
  client.score(
    { model: 'churn', modelVersion: '', customers: [{ customerId, features: {} }], reasonCodes: 0 },
    { deadline: 3_000 },
  );
const byInline = () =>
  t.client.score({
    model: 'clv',
    modelVersion: '',
    customers: [{ customerId: '', features: SAMPLE_FEATURES }],
    reasonCodes: 1,
  });

describe('Postgres outage', () => {
  it('fails by-id calls with UNAVAILABLE (not a timeout) while inline scoring keeps working, then recovers', async () => {
    expect(await statusOf(byId())).toBe('OK');
    await postgres.stop();

    // Every by-id call fails with UNAVAILABLE well inside its 3 s deadline: first from refused
    // connections, then straight from the open breaker.
    const outage = await Promise.all(Array.from({ length: 10 }, () => statusOf(byId())));
    expect(outage).toEqual(Array(10).fill('UNAVAILABLE'));
    const error = await byId().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).details).toMatch(
      /feature store is unavailable; retry later or send the features inline/,
    );

    // Inline scoring does not touch the database.
    for (let i = 0; i < 20; i++) expect((await byInline()).results[0]?.outcome?.$case).toBe('prediction');

    // The breaker shows in health; the server as a whole stays SERVING (inline scoring works).
    expect((await health.check({ service: FEATURE_STORE_HEALTH_SERVICE })).status).toBe(
      ServingStatus.NOT_SERVING,
    );
    expect((await health.check({ service: '' })).status).toBe(ServingStatus.SERVING);

    // The configured fallback serves population means instead of failing.
    const fallback = await byId(withFallback.client);
    expect(fallback.results[0]?.outcome).toMatchObject({
      $case: 'prediction',
      value: { featureSource: FeatureSource.FEATURE_SOURCE_FALLBACK },
    });

    await postgres.start();
    let recovered = 'UNAVAILABLE';
    for (let attempt = 0; attempt < 60 && recovered !== 'OK'; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      recovered = await statusOf(byId());
    }
    expect(recovered).toBe('OK');
    expect((await health.check({ service: FEATURE_STORE_HEALTH_SERVICE })).status).toBe(
      ServingStatus.SERVING,
    );
  });
});

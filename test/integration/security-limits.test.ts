import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Status, type Metadata } from 'nice-grpc';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScoringClient, type ScoringClient } from '../../client/src/scoring-client.js';
import { hashApiKey } from '../../server/src/security/api-key-authenticator.js';
import { statusOf } from '../helpers/status-of.js';
import { startTestServer, type TestServer } from './setup/test-server.js';

let dir: string;
let t: TestServer;
let client: ScoringClient;
const key = `ci_${randomBytes(24).toString('base64url')}`;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-limits-'));
  await writeFile(
    path.join(dir, 'keys.json'),
    JSON.stringify([{ name: 'svc-limited', sha256: hashApiKey(key), roles: ['scorer'] }]),
  );
  t = await startTestServer({
    AUTH_MODE: 'required',
    API_KEYS_FILE: path.join(dir, 'keys.json'),
    RATE_LIMITS: 'scorer=4:5,batch=50:100',
    MAX_IN_FLIGHT: '1',
  });
  client = createScoringClient(t.address, { retry: false, auth: { apiKey: key } });
});
afterAll(async () => {
  client?.close();
  await t?.close();
  await rm(dir, { recursive: true, force: true });
});

const score = (trailer?: (metadata: Metadata) => void) =>
  client.score(
    { model: 'churn', modelVersion: '', customers: [{ customerId: '1', features: {} }], reasonCodes: 0 },
    trailer ? { onTrailer: trailer } : {},
  );

describe('rate limits and load shedding', () => {
  it('lets a burst within the limit through and refuses the excess with a retry hint', async () => {
    const results: string[] = [];
    for (let i = 0; i < 5; i++) results.push(await statusOf(score()));
    let trailer: Metadata | undefined;
    const refused = await score((metadata) => (trailer = metadata)).catch((e: unknown) => e);
    expect(results).toEqual(['OK', 'OK', 'OK', 'OK', 'OK']);
    expect(refused).toMatchObject({
      code: Status.RESOURCE_EXHAUSTED,
      details: expect.stringMatching(/^rate limit of svc-limited exceeded; retry in \d+ ms/),
    });
    expect(Number(trailer?.get('grpc-retry-pushback-ms'))).toBeGreaterThan(0);
    expect(Number(trailer?.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // 4 tokens a second: after the hinted wait, calls go through again.
    await new Promise((resolve) => setTimeout(resolve, Number(trailer?.get('grpc-retry-pushback-ms')) + 20));
    expect(await statusOf(score())).toBe('OK');
  });

  it('sheds calls beyond MAX_IN_FLIGHT instead of queueing them', async () => {
    // Block the feature store so a by-id call stays in flight.
    const locker = new pg.Client({ connectionString: t.databaseUrl });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE customer_features IN ACCESS EXCLUSIVE MODE');
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // refill the bucket
    const stuck = statusOf(score());
    await new Promise((resolve) => setTimeout(resolve, 100));
    const shed = await score().catch((e: unknown) => e);
    await locker.query('ROLLBACK');
    await locker.end();
    expect(shed).toMatchObject({
      code: Status.RESOURCE_EXHAUSTED,
      details: expect.stringMatching(/limit of 1 calls in flight \(MAX_IN_FLIGHT\)/),
    });
    expect(await stuck).toBe('OK');
  });
});

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ClientError, Status, type Metadata } from 'nice-grpc';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createScoringClient,
  type ScoreStreamRequest,
  type ScoringClient,
} from '../../client/src/scoring-client.js';
import type { ModelInferRequest } from '../../gen/inference/grpc_service.js';
import { hashApiKey } from '../../server/src/security/api-key-authenticator.js';
import { createV2Client } from '../helpers/v2-client.js';
import { statusOf } from '../helpers/status-of.js';
import { hs256Token } from '../helpers/test-jwt.js';
import { startTestServer, type TestServer } from './setup/test-server.js';

let dir: string;
let t: TestServer;
let client: ScoringClient;
const key = `ci_${randomBytes(24).toString('base64url')}`;
const keys = {
  batch: `ci_${randomBytes(24).toString('base64url')}`,
  streams: `ci_${randomBytes(24).toString('base64url')}`,
  v2: `ci_${randomBytes(24).toString('base64url')}`,
  alice: `ci_${randomBytes(24).toString('base64url')}`,
};
const secret = randomBytes(48).toString('base64url');
const clients: ScoringClient[] = [];

/** A client calling with `auth`, closed after the file. */
function clientWith(auth: { apiKey: string } | { bearerToken: string }): ScoringClient {
  const made = createScoringClient(t.address, { retry: false, auth });
  clients.push(made);
  return made;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-limits-'));
  await writeFile(
    path.join(dir, 'keys.json'),
    JSON.stringify([
      { name: 'svc-limited', sha256: hashApiKey(key), roles: ['scorer'] },
      { name: 'job-batch', sha256: hashApiKey(keys.batch), roles: ['batch'] },
      { name: 'job-v2', sha256: hashApiKey(keys.v2), roles: ['batch'] },
      // admin has no RATE_LIMITS entry here: only the stream cap holds this one.
      { name: 'ops-streams', sha256: hashApiKey(keys.streams), roles: ['admin'] },
      { name: 'alice', sha256: hashApiKey(keys.alice), roles: ['scorer'] },
    ]),
  );
  await writeFile(path.join(dir, 'jwt-secret'), secret);
  t = await startTestServer({
    AUTH_MODE: 'required',
    API_KEYS_FILE: path.join(dir, 'keys.json'),
    JWT_HS256_SECRET_FILE: path.join(dir, 'jwt-secret'),
    JWT_ISSUER: 'https://issuer.test',
    JWT_AUDIENCE: 'customer-intelligence',
    RATE_LIMITS: 'scorer=4:5,batch=1:1',
    MAX_STREAMS_PER_PRINCIPAL: '2',
    MAX_IN_FLIGHT: '1',
  });
  client = createScoringClient(t.address, { retry: false, auth: { apiKey: key } });
});
afterAll(async () => {
  client?.close();
  for (const made of clients) made.close();
  await t?.close();
  await rm(dir, { recursive: true, force: true });
});

const chunk = (chunkId: string): ScoreStreamRequest => ({
  chunkId,
  model: 'churn',
  modelVersion: '',
  customers: [{ customerId: '1', features: {} }],
  reasonCodes: 0,
});

/** `count` chunks, then (with `hold`) no end of the stream until `hold` aborts. */
async function* chunks(count: number, hold?: AbortSignal): AsyncIterable<ScoreStreamRequest> {
  for (let i = 0; i < count; i++) yield await Promise.resolve(chunk(`c${i}`));
  if (hold !== undefined && !hold.aborted)
    await new Promise((resolve) => hold.addEventListener('abort', resolve, { once: true }));
}

/** Runs a ScoreStream: the chunk ids answered so far, and how it ended (a status name, or "aborted"). */
function runStream(
  on: ScoringClient,
  requests: AsyncIterable<ScoreStreamRequest>,
  signal?: AbortSignal,
): { answered: string[]; ended: Promise<{ status: string; details?: string }> } {
  const answered: string[] = [];
  const ended = (async () => {
    try {
      for await (const response of on.scoreStream(requests, signal ? { signal } : {}))
        answered.push(response.chunkId);
      return { status: 'OK' };
    } catch (error) {
      if (error instanceof ClientError) return { status: Status[error.code], details: error.details };
      if (error instanceof Error && error.name === 'AbortError') return { status: 'aborted' };
      throw error;
    }
  })();
  return { answered, ended };
}

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
      details: expect.stringMatching(/^rate limit of key:svc-limited exceeded; retry in \d+ ms/),
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

  it('holds a 1,000-chunk ScoreStream at batch=1:1 to a chunk a second, from the bucket its calls use', async () => {
    const batch = clientWith({ apiKey: keys.batch });
    const cancel = new AbortController();
    const started = performance.now();
    const stream = runStream(batch, chunks(1_000), cancel.signal);
    await expect
      .poll(() => stream.answered.length, { timeout: 20_000, interval: 20 })
      .toBeGreaterThanOrEqual(2);
    const elapsedS = (performance.now() - started) / 1000;
    const answered = stream.answered.length;
    // Right after an answer the stream has just spent the bucket's token: the key's next call finds none.
    const listed = await batch.listModels({}).catch((e: unknown) => e);
    cancel.abort();
    expect(await stream.ended).toEqual({ status: 'aborted' });
    // Token accounting, not timing: the call took the burst (1), and every chunk a token refilled at 1 a
    // second, so no more chunks can have been answered than seconds have passed since the call started.
    expect(answered).toBeLessThanOrEqual(elapsedS);
    expect(listed).toMatchObject({
      code: Status.RESOURCE_EXHAUSTED,
      details: expect.stringMatching(/^rate limit of key:job-batch exceeded/),
    });
  });

  it('holds a ModelStreamInfer stream to the same rate: a token per request', async () => {
    const v2 = createV2Client(t.address, { apiKey: keys.v2 });
    const cancel = new AbortController();
    async function* requests(): AsyncIterable<ModelInferRequest> {
      for (let i = 0; i < 1_000; i++) {
        // Each answered with error_message (no such model): it is the token accounting that counts here.
        yield await Promise.resolve({
          modelName: 'nope',
          modelVersion: '',
          id: String(i),
          parameters: {},
          inputs: [],
          outputs: [],
          rawInputContents: [],
        });
      }
    }
    const answered: string[] = [];
    const started = performance.now();
    const ended = (async () => {
      for await (const response of v2.modelStreamInfer(requests(), { signal: cancel.signal }))
        answered.push(response.errorMessage);
    })().catch((error: unknown) => (error instanceof Error ? error.name : String(error)));
    try {
      await expect.poll(() => answered.length, { timeout: 20_000, interval: 20 }).toBeGreaterThanOrEqual(2);
      const elapsedS = (performance.now() - started) / 1000;
      expect(answered.length).toBeLessThanOrEqual(elapsedS);
    } finally {
      cancel.abort();
      expect(await ended).toBe('AbortError');
      v2.close();
    }
  });

  it('caps the streams a principal has open, and frees a place when one is cancelled', async () => {
    const ops = clientWith({ apiKey: keys.streams });
    const holds = [new AbortController(), new AbortController()];
    const open = holds.map((hold) => runStream(ops, chunks(1, hold.signal), hold.signal));
    // Both are in once their first chunk is answered.
    await expect.poll(() => open.map((stream) => stream.answered.length)).toEqual([1, 1]);
    const third = await runStream(ops, chunks(1)).ended;
    expect(third).toEqual({
      status: 'RESOURCE_EXHAUSTED',
      details:
        'key:ops-streams has its limit of 2 streams open (MAX_STREAMS_PER_PRINCIPAL); retry when one has ended',
    });
    holds[0]!.abort();
    expect(await open[0]!.ended).toEqual({ status: 'aborted' });
    // The cancelled stream's place is free again (as soon as the server has seen the cancellation).
    await expect.poll(async () => (await runStream(ops, chunks(1)).ended).status).toBe('OK');
    holds[1]!.abort();
    await open[1]!.ended;
  });

  it('keeps an API key and a JWT subject of the same name apart: each has its own bucket', async () => {
    const byKey = clientWith({ apiKey: keys.alice });
    const token = await hs256Token(secret, 'alice', ['scorer']);
    const byToken = clientWith({ bearerToken: token });
    let refused: unknown;
    for (let i = 0; i < 20 && refused === undefined; i++) {
      refused = await byKey.listModels({}).then(
        () => undefined,
        (e: unknown) => e,
      );
    }
    // The key's bucket is empty; the token's, of the same name, is full.
    const tokenCall = await statusOf(byToken.listModels({}));
    expect(tokenCall).toBe('OK');
    expect(refused).toMatchObject({
      code: Status.RESOURCE_EXHAUSTED,
      details: expect.stringMatching(/^rate limit of key:alice exceeded/),
    });
  });
});

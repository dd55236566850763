import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScoreStreamRequest, ScoreStreamResponse } from '../../client/src/scoring-client.js';
import { startTestServer, type TestServer } from './setup/test-server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ STREAM_CHUNKS_IN_FLIGHT: '3', MAX_CUSTOMERS_PER_REQUEST: '200' });
});
afterAll(() => t?.close());

function chunk(
  chunkId: string,
  ids: string[],
  overrides: Partial<ScoreStreamRequest> = {},
): ScoreStreamRequest {
  return {
    chunkId,
    model: 'churn',
    modelVersion: '',
    customers: ids.map((customerId) => ({ customerId, features: {} })),
    reasonCodes: 2,
    ...overrides,
  };
}

function from<T>(items: T[]): AsyncIterable<T> {
  return (async function* () {
    for (const item of items) yield await Promise.resolve(item);
  })();
}

async function collect(requests: AsyncIterable<ScoreStreamRequest>): Promise<ScoreStreamResponse[]> {
  const responses: ScoreStreamResponse[] = [];
  for await (const response of t.client.scoreStream(requests)) responses.push(response);
  return responses;
}

describe('ScoreStream', () => {
  it('answers every chunk, correlated by chunk id, with one result per customer', async () => {
    const chunks = Array.from({ length: 30 }, (_, c) =>
      chunk(
        `c${c}`,
        Array.from({ length: 100 }, (_, i) => String(c * 100 + i + 1)),
      ),
    );
    const responses = await collect(from(chunks));
    expect(responses.map((r) => r.chunkId).sort()).toEqual(chunks.map((c) => c.chunkId).sort());
    for (const response of responses) {
      const sent = chunks.find((c) => c.chunkId === response.chunkId)!;
      expect(response.error).toBeUndefined();
      expect(response.results.map((r) => r.customerId)).toEqual(sent.customers.map((c) => c.customerId));
      for (const result of response.results) {
        expect(result.outcome?.$case).toBe('prediction');
        if (result.outcome?.$case === 'prediction') expect(result.outcome.value.reasonCodes).toHaveLength(2);
      }
    }
  });

  it('keeps the stream alive through a bad chunk and bad items', async () => {
    const responses = await collect(
      from([
        chunk('good-1', ['1', '2']),
        chunk('unknown-model', ['3'], { model: 'upsell' }),
        chunk(
          'too-big',
          Array.from({ length: 201 }, (_, i) => String(i + 1)),
        ),
        {
          ...chunk('bad-items', ['4', 'missing-customer']),
          customers: [
            { customerId: '4', features: {} },
            { customerId: 'missing-customer', features: {} },
            { customerId: '', features: { tenure_months: NaN } },
          ],
        },
        chunk('good-2', ['5']),
      ]),
    );
    const byId = new Map(responses.map((r) => [r.chunkId, r]));
    expect([...byId.keys()].sort()).toEqual(['bad-items', 'good-1', 'good-2', 'too-big', 'unknown-model']);
    expect(byId.get('unknown-model')!.error).toMatchObject({ code: 5, reason: 'ERR_MODEL_NOT_FOUND' });
    expect(byId.get('too-big')!.error).toMatchObject({
      code: 3,
      message: expect.stringMatching(/at most 200/),
    });
    const items = byId.get('bad-items')!.results;
    expect(items[0]!.outcome?.$case).toBe('prediction');
    expect(items[1]!.outcome).toMatchObject({
      $case: 'error',
      value: { code: 5, reason: 'ERR_CUSTOMER_NOT_FOUND' },
    });
    expect(items[2]!.outcome).toMatchObject({
      $case: 'error',
      value: {
        code: 3,
        message: expect.stringMatching(/customers\[2\]\.features\.tenure_months: must be a finite number/),
      },
    });
    expect(byId.get('good-2')!.results[0]!.outcome?.$case).toBe('prediction');
  });

  it('answers a client that waits for each answer before sending the next chunk', async () => {
    let release: (() => void) | undefined;
    const answered: string[] = [];
    async function* pingPong(): AsyncIterable<ScoreStreamRequest> {
      for (let i = 0; i < 5; i++) {
        const waiting = new Promise<void>((resolve) => (release = resolve));
        yield chunk(`p${i}`, [String(i + 10)]);
        await waiting;
      }
    }
    for await (const response of t.client.scoreStream(pingPong())) {
      answered.push(response.chunkId);
      release?.();
    }
    expect(answered).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
  });
});

import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { DRAINED, orDrained } from '../../server/src/lifecycle/or-drained.js';

describe('orDrained', () => {
  it('passes the value through and leaves no listener behind, however many waits a stream makes', async () => {
    const drain = new AbortController();
    for (let i = 0; i < 10_000; i++) {
      expect(await orDrained(Promise.resolve(i), drain.signal)).toBe(i);
    }
    expect(getEventListeners(drain.signal, 'abort')).toHaveLength(0);
  });

  it('passes a rejection through', async () => {
    const drain = new AbortController();
    await expect(orDrained(Promise.reject(new Error('stream reset')), drain.signal)).rejects.toThrow(
      'stream reset',
    );
    expect(getEventListeners(drain.signal, 'abort')).toHaveLength(0);
  });

  it('resolves DRAINED when draining begins before the promise settles, or had already begun', async () => {
    const drain = new AbortController();
    const waiting = orDrained(new Promise<never>(() => undefined), drain.signal);
    drain.abort();
    expect(await waiting).toBe(DRAINED);
    expect(await orDrained(Promise.resolve(1), drain.signal)).toBe(DRAINED);
  });
});

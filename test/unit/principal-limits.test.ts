import { Status } from 'nice-grpc-common';
import { describe, expect, it } from 'vitest';
import type { Role } from '../../server/src/config/security-config.js';
import { AppError } from '../../server/src/errors.js';
import { PrincipalLimits, type PrincipalLimitsOptions } from '../../server/src/security/principal-limits.js';
import { ANONYMOUS, type Principal } from '../../server/src/security/principal.js';

// The limits on a simulated clock: `sleep` moves the clock on by the wait instead of waiting, so token
// accounting is checked exactly and no test depends on how fast this machine is.
function simulated(options: Partial<PrincipalLimitsOptions> = {}) {
  const clock = { ms: 0 };
  const limits = new PrincipalLimits({
    rateLimits: { batch: { ratePerSecond: 1, burst: 1 }, scorer: { ratePerSecond: 4, burst: 5 } },
    maxStreamsPerPrincipal: 2,
    now: () => clock.ms,
    sleep: async (ms, signal) => {
      signal.throwIfAborted();
      clock.ms += ms;
      await Promise.resolve();
    },
    ...options,
  });
  return { clock, limits };
}

const principal = (id: string, roles: Role[], via: Principal['via'] = 'api-key'): Principal => ({
  id,
  roles: new Set(roles),
  via,
});

function refusal(open: () => unknown): unknown {
  try {
    open();
  } catch (error) {
    return error instanceof AppError ? error : undefined;
  }
  return undefined;
}

async function* chunks(count: number): AsyncGenerator<number> {
  for (let i = 0; i < count; i++) yield await Promise.resolve(i);
}

describe('PrincipalLimits', () => {
  it('charges a 1,000-chunk stream at batch=1:1 a token per chunk, from the bucket its calls use', async () => {
    const { clock, limits } = simulated();
    const job = principal('key:job-batch', ['batch']);
    expect(limits.take(job)).toBe(0); // the call itself, as the guard takes it: the burst of 1
    const passedAt: number[] = [];
    let unaryDuringStream: number | undefined;
    for await (const chunk of limits.throttle(chunks(1_000), job, new AbortController().signal)) {
      passedAt.push(clock.ms);
      if (chunk === 500) unaryDuringStream = limits.take(job);
    }
    expect(passedAt).toHaveLength(1_000);
    // One token a second: chunk i passes when its token is back, i + 1 s after the call took the burst.
    expect(passedAt.slice(0, 3)).toEqual([1_000, 2_000, 3_000]);
    expect(passedAt.at(-1)).toBe(1_000_000);
    // A unary call of the same principal found the bucket the stream emptied.
    expect(unaryDuringStream).toBeGreaterThan(0);
  });

  it('does not slow the anonymous principal nor a principal whose roles have no limit', async () => {
    const { clock, limits } = simulated();
    const admin = principal('key:ops', ['admin']);
    let passed = 0;
    for await (const _ of limits.throttle(chunks(100), ANONYMOUS, new AbortController().signal)) passed++;
    for await (const _ of limits.throttle(chunks(100), admin, new AbortController().signal)) passed++;
    expect([passed, clock.ms]).toEqual([200, 0]);
  });

  it('stops a waiting stream when its call is cancelled', async () => {
    const limits = new PrincipalLimits({
      rateLimits: { batch: { ratePerSecond: 0.001, burst: 1 } },
      maxStreamsPerPrincipal: 0,
    });
    const job = principal('key:job-batch', ['batch']);
    const cancel = new AbortController();
    const iterator = limits.throttle(chunks(10), job, cancel.signal)[Symbol.asyncIterator]();
    expect(await iterator.next()).toEqual({ done: false, value: 0 });
    const waiting = iterator.next(); // its token is 1,000 s away
    cancel.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('sizes one bucket per principal by its most generous role', () => {
    const { limits } = simulated();
    const both = principal('key:both', ['batch', 'scorer']);
    const granted = Array.from({ length: 6 }, () => limits.take(both));
    expect(granted.slice(0, 5)).toEqual([0, 0, 0, 0, 0]); // scorer=4:5, not batch=1:1
    expect(granted[5]).toBe(250);
  });

  it('gives an API key and a JWT subject of the same name their own buckets', () => {
    const { limits } = simulated();
    const key = principal('key:alice', ['batch'], 'api-key');
    const token = principal('jwt:alice', ['batch'], 'jwt');
    expect([limits.take(key), limits.take(key), limits.take(token)]).toEqual([0, 1_000, 0]);
  });

  it('caps the streams a principal has open, and frees a place when one ends', () => {
    const { limits } = simulated();
    const job = principal('key:job-batch', ['batch']);
    const first = limits.openStream(job);
    const second = limits.openStream(job);
    expect(refusal(() => limits.openStream(job))).toMatchObject({
      status: Status.RESOURCE_EXHAUSTED,
      reason: 'ERR_PRINCIPAL_STREAM_LIMIT',
      message:
        'key:job-batch has its limit of 2 streams open (MAX_STREAMS_PER_PRINCIPAL); retry when one has ended',
    });
    expect(limits.openStream(principal('jwt:job-batch', ['batch']))).toBeTypeOf('function');
    first?.();
    first?.(); // idempotent: a second release frees nothing more
    expect(limits.openStreams(job)).toBe(1);
    expect(limits.openStream(job)).toBeTypeOf('function');
    second?.();
    expect(limits.openStreams(job)).toBe(1);
  });

  it('does not cap streams with MAX_STREAMS_PER_PRINCIPAL=0, nor those of the anonymous principal', () => {
    const { limits } = simulated({ maxStreamsPerPrincipal: 0 });
    const job = principal('key:job-batch', ['batch']);
    expect(Array.from({ length: 100 }, () => limits.openStream(job))).toEqual(Array(100).fill(undefined));
    const capped = simulated().limits;
    expect(Array.from({ length: 100 }, () => capped.openStream(ANONYMOUS))).toEqual(
      Array(100).fill(undefined),
    );
  });
});

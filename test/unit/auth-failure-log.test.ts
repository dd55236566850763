import { Writable } from 'node:stream';
import { Metadata } from 'nice-grpc-common';
import { describe, expect, it } from 'vitest';
import type { CallContext } from 'nice-grpc-common';
import {
  AUTH_FAILURE_LOG_LIMIT,
  authenticationGuard,
} from '../../server/src/grpc/stages/authentication-guard.js';
import type { GuardedCall } from '../../server/src/grpc/stages/admission.js';
import { ApiKeyAuthenticator } from '../../server/src/security/api-key-authenticator.js';
import { createLogger } from '../../server/src/telemetry/logger.js';

// Anyone can send bad credentials: a flood of them must not become a flood of audit lines.
describe('audit lines for failed authentication', () => {
  it('let a burst through, then hold back and count the rest', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const guard = authenticationGuard({
      mode: 'required',
      apiKeys: new ApiKeyAuthenticator([]),
      jwt: undefined,
      logger: createLogger({ level: 'info', destination }),
    });
    const call = {
      method: { path: '/customer_intelligence.scoring.v1.ScoringService/Score' },
      requestStream: false,
      responseStream: false,
    } as unknown as GuardedCall;
    const context = {
      metadata: Metadata({ 'x-api-key': 'ci_wrong' }),
      peer: 'ipv4:10.0.0.9:4242',
    } as unknown as CallContext;
    const refusals = 5_000;
    for (let i = 0; i < refusals; i++) {
      expect(() => guard(call, context, { principal: undefined, deadline: undefined })).toThrow(
        'the API key is not valid',
      );
    }
    const failures = lines.filter((line) => line.msg === 'authentication failed');
    // The burst, plus at most what refilled while the loop ran.
    expect(failures.length).toBeGreaterThanOrEqual(AUTH_FAILURE_LOG_LIMIT.burst);
    expect(failures.length).toBeLessThan(AUTH_FAILURE_LOG_LIMIT.burst + 50);
    expect(failures[0]).toMatchObject({
      audit: 'auth',
      peer: 'ipv4:10.0.0.9:4242',
      problem: 'the API key is not valid',
    });
    // A tenth of a second later one more line may go, and it says how many were held back: every refusal
    // is a line or counted on one.
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(() => guard(call, context, { principal: undefined, deadline: undefined })).toThrow();
    const all = lines.filter((line) => line.msg === 'authentication failed');
    expect(all.at(-1)!.suppressed).toBeGreaterThan(0);
    const counted = all.reduce((sum, line) => sum + Number(line.suppressed ?? 0), 0);
    expect(all.length + counted).toBe(refusals + 1);
  });
});

import { ServerError, Status } from 'nice-grpc-common';
import { describe, expect, it } from 'vitest';
import { errors } from '../../server/src/errors.js';
import {
  MAX_STATUS_DETAILS,
  toItemError,
  toServerError,
  toV2ErrorMessage,
  toWireError,
} from '../../server/src/grpc/wire-error.js';

const serving = { shuttingDown: false };
const draining = { shuttingDown: true };

function named(name: string): Error {
  const error = new Error(`a ${name}`);
  error.name = name;
  return error;
}

describe('toWireError', () => {
  it('keeps a catalogued error as it is, and only INTERNAL ones count as unexpected', () => {
    expect(toWireError(errors.customerNotFound('c-1'))).toEqual({
      status: Status.NOT_FOUND,
      reason: 'ERR_CUSTOMER_NOT_FOUND',
      message: 'customer "c-1" is not in the feature store',
      unexpected: false,
    });
    expect(toWireError(errors.inferenceFailed('churn', new Error('ort')))).toMatchObject({
      status: Status.INTERNAL,
      reason: 'ERR_INFERENCE_FAILED',
      unexpected: true,
    });
  });

  it('passes a library ServerError through with its code', () => {
    expect(toWireError(new ServerError(Status.NOT_FOUND, 'unknown service'))).toEqual({
      status: Status.NOT_FOUND,
      reason: 'ERR_SERVER',
      message: 'unknown service',
      unexpected: false,
    });
  });

  it('tells a timeout from a client that left from a server that drains', () => {
    expect(toWireError(named('TimeoutError'), serving)).toMatchObject({
      status: Status.DEADLINE_EXCEEDED,
      reason: 'ERR_DEADLINE_EXCEEDED',
    });
    expect(toWireError(named('TimeoutError'), draining).reason).toBe('ERR_DEADLINE_EXCEEDED');
    expect(toWireError(named('AbortError'), serving)).toMatchObject({
      status: Status.CANCELLED,
      reason: 'ERR_CANCELLED',
    });
    expect(toWireError(named('AbortError'), draining)).toMatchObject({
      status: Status.UNAVAILABLE,
      reason: 'ERR_SHUTTING_DOWN',
    });
  });

  it('makes a refused connection or an open breaker UNAVAILABLE, anything else INTERNAL without its text', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(toWireError(refused)).toMatchObject({
      status: Status.UNAVAILABLE,
      reason: 'ERR_DEPENDENCY_UNAVAILABLE',
      unexpected: false,
    });
    // pg-pool's connect timeout carries no code, only its message.
    expect(toWireError(new Error('timeout exceeded when trying to connect'))).toMatchObject({
      status: Status.UNAVAILABLE,
      reason: 'ERR_DEPENDENCY_UNAVAILABLE',
      unexpected: false,
    });
    const bug = toWireError(new TypeError('cannot read properties of undefined (secret=hunter2)'));
    expect(bug).toEqual({
      status: Status.INTERNAL,
      reason: 'ERR_INTERNAL',
      message: 'internal error; the server logged the cause',
      unexpected: true,
    });
    expect(toWireError('a thrown string').reason).toBe('ERR_INTERNAL');
    expect(toWireError(null).reason).toBe('ERR_INTERNAL');
  });

  it('cuts long messages and replaces unpaired surrogates, so grpc-js can send them', () => {
    const long = toWireError(errors.modelNotFound('m'.repeat(5_000), []));
    expect(long.message.length).toBeLessThanOrEqual(MAX_STATUS_DETAILS + 10);
    expect(long.message.endsWith('… (cut)')).toBe(true);
    const broken = toWireError(errors.modelNotFound('bad\uD83D', []));
    expect(broken.message).toContain('bad\uFFFD');
    expect(() => encodeURI(broken.message)).not.toThrow();
  });
});

describe('the wire forms of one WireError', () => {
  const wire = toWireError(errors.featuresMissing('c-9', ['tenure_months']));

  it('agree on status, reason and message for a call, a stream item and a V2 stream response', () => {
    const call = toServerError(wire);
    expect(call).toBeInstanceOf(ServerError);
    expect([call.code, call.details]).toEqual([Status.FAILED_PRECONDITION, wire.message]);
    expect(toItemError(wire)).toEqual({
      code: Status.FAILED_PRECONDITION,
      reason: 'ERR_FEATURES_MISSING',
      message: wire.message,
    });
    expect(toV2ErrorMessage(wire)).toBe(`FAILED_PRECONDITION: ${wire.message}`);
  });

  it('builds a call status without capturing a stack (a refusal under load must stay cheap)', () => {
    expect(toServerError(wire).stack ?? '').not.toMatch(/\n\s+at /);
  });
});

describe('the error catalog', () => {
  it('gives each factory its own reason', () => {
    const made = [
      errors.invalidArgument('f', 'p'),
      errors.malformedRequest('M', 'p'),
      errors.modelNotFound('m', []),
      errors.modelVersionNotFound('m', 'v', []),
      errors.versionExists('m', 'v'),
      errors.noPreviousVersion('m'),
      errors.versionFailed('m', 'v', 'r'),
      errors.modelSwitchedOff('m', ''),
      errors.versionLoading('m', 'v'),
      errors.customerNotFound('c'),
      errors.featuresMissing('c', []),
      errors.featureStoreUnavailable(),
      errors.notServing('starting'),
      errors.shuttingDown(),
      errors.deadlineExceeded('now'),
      errors.cancelled(),
      errors.unauthenticated('p'),
      errors.permissionDenied('p', [], 'M', []),
      errors.rateLimited('p', 1),
      errors.principalStreamLimit('p', 1),
      errors.streamLimit(1),
      errors.overloaded({ maxInFlight: 1 }),
      errors.modelRetired('m', 'v'),
      errors.modelLoadFailed('m', 'p'),
      errors.inferenceFailed('m', undefined),
      errors.dependencyUnavailable(undefined),
      errors.tokenKeysUnavailable('the request timed out'),
      errors.internal(undefined),
    ];
    expect(made).toHaveLength(Object.keys(errors).length);
    expect(new Set(made.map((error) => error.reason)).size).toBe(made.length);
  });
});

import type { CallContext } from 'nice-grpc-common';
import { errors } from '../../errors.js';
import type { ApiKeyAuthenticator } from '../../security/api-key-authenticator.js';
import { InvalidTokenError, type JwtAuthenticator } from '../../security/jwt-authenticator.js';
import { OPEN, rolesFor } from '../../security/method-roles.js';
import { ANONYMOUS, type Principal } from '../../security/principal.js';
import { TokenBucket } from '../../security/token-bucket.js';
import type { Logger } from '../../telemetry/logger.js';
import { UnaryCallContext } from '../call-context.js';
import type { Guard } from './admission.js';

/** Audit lines for failed authentications: a burst of 100, then 10 a second (the rest are counted). */
export const AUTH_FAILURE_LOG_LIMIT = { ratePerSecond: 10, burst: 100 } as const;

/** Options for {@link authenticationGuard}. */
export interface AuthenticationOptions {
  /** `none`: every call is the anonymous principal with every role (the quick start). */
  readonly mode: 'none' | 'required';
  readonly apiKeys: ApiKeyAuthenticator | undefined;
  readonly jwt: JwtAuthenticator | undefined;
  readonly logger: Logger;
}

/**
 * Establishes who is calling: an API key in `x-api-key` (checked against stored hashes) or a JWT in
 * `authorization: Bearer ...`. Missing or invalid credentials get UNAUTHENTICATED saying which check
 * failed; failures are written to the audit log with method and peer (never the credential), at most
 * {@link AUTH_FAILURE_LOG_LIMIT}: anyone can send bad credentials, and a line per refusal would be a log
 * storm; a line after held-back ones says how many (`suppressed`).
 * RPCs marked OPEN in the method table (health, reflection, V2 ServerLive/ServerReady) skip authentication.
 *
 * The early admission (`early-admission.ts`) runs this guard as a call's headers arrive, before its message
 * is read; a unary call's principal is then taken from there instead of verifying the credentials twice.
 */
export function authenticationGuard(options: AuthenticationOptions): Guard {
  const audit = options.logger.child({ audit: 'auth' });
  // Lines for failed authentications are let through by a token bucket; the ones it holds back are counted.
  const lines = new TokenBucket(AUTH_FAILURE_LOG_LIMIT, performance.now());
  let suppressed = 0;

  function authenticate(method: string, context: CallContext): Principal | Promise<Principal> {
    const apiKey = context.metadata.get('x-api-key');
    const authorization = context.metadata.get('authorization');
    const fail = (problem: string) => {
      if (lines.take(performance.now()) === 0) {
        audit.warn(
          { method, peer: context.peer, problem, ...(suppressed > 0 && { suppressed }) },
          'authentication failed',
        );
        suppressed = 0;
      } else suppressed++;
      return errors.unauthenticated(problem);
    };
    if (typeof apiKey === 'string' && apiKey !== '') {
      if (options.apiKeys === undefined) throw fail('API keys are not accepted by this server');
      const principal = options.apiKeys.authenticate(apiKey);
      if (principal === undefined) throw fail('the API key is not valid');
      return principal;
    }
    if (typeof authorization === 'string' && authorization !== '') {
      const match = /^Bearer\s+(\S+)$/i.exec(authorization);
      if (match === null) throw fail('the authorization header must be "Bearer <token>"');
      if (options.jwt === undefined) throw fail('bearer tokens are not accepted by this server');
      return options.jwt.authenticate(match[1]!).catch((error: unknown) => {
        if (error instanceof InvalidTokenError) throw fail(`invalid bearer token: ${error.message}`);
        throw error;
      });
    }
    throw fail('credentials required: send an API key in x-api-key or a JWT in authorization: Bearer');
  }

  return (call, context, admission) => {
    if (options.mode === 'none' || rolesFor(call.method.path) === OPEN) {
      admission.principal = ANONYMOUS;
      return undefined;
    }
    // Unary calls were authenticated as their headers arrived (early-admission.ts); streams are again here.
    const early = context instanceof UnaryCallContext ? context.principal : undefined;
    if (early !== undefined) {
      admission.principal = early;
      return undefined;
    }
    // API keys are checked synchronously; only JWT verification needs a promise.
    const principal = authenticate(call.method.path, context);
    if (!(principal instanceof Promise)) {
      admission.principal = principal;
      return undefined;
    }
    return principal.then((p) => {
      admission.principal = p;
      return undefined;
    });
  };
}

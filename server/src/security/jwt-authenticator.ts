import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  type RemoteJWKSet,
} from 'jose';
import { errors } from '../errors.js';
import type { Logger } from '../telemetry/logger.js';
import { jwtPrincipalId, toRoles, type Principal } from './principal.js';

/** Where token signatures are checked against. */
export type JwtKeySource =
  | { readonly kind: 'hs256-secret-file'; readonly path: string }
  | { readonly kind: 'jwks-file'; readonly path: string }
  | { readonly kind: 'jwks-url'; readonly url: string };

/** Options for {@link JwtAuthenticator.create}. */
export interface JwtOptions {
  readonly keys: JwtKeySource;
  /** Required `iss`. */
  readonly issuer: string;
  /** Required `aud` (one of). */
  readonly audience: string;
  /** Claim holding the role names (array, or space-separated string). @default "roles" */
  readonly rolesClaim: string;
  /**
   * Oldest accepted token, in seconds since its `iat` (which it then must have); on top of `exp`, it bounds
   * how long a token minted with a far-off expiry works. @default unset (only `exp`)
   */
  readonly maxTokenAgeS?: number | undefined;
}

/** Why a bearer token was refused, in words safe to send back (never the token). */
export class InvalidTokenError extends Error {
  override readonly name = 'InvalidTokenError';
}

/** How often the issuer's JWKS is fetched again, so that rotated-out keys stop being trusted. */
export const JWKS_REFRESH_MS = 600_000;

/** `typ` header values of a JWT access token (RFC 7519, RFC 9068); a token without `typ` is accepted too. */
const ACCEPTED_TYPES = new Set(['jwt', 'at+jwt', 'application/jwt', 'application/at+jwt']);

/** The verification key: a shared secret or a key set; undefined while a key file is missing or invalid. */
type VerificationKey = { kind: 'secret'; secret: Uint8Array } | { kind: 'key-set'; getKey: JWTVerifyGetKey };

/** A JWKS fetch that failed (timeout, refused, not 200, not a key set): the token itself may be fine. */
class KeysUnavailable extends Error {}

/**
 * Verifies `authorization: Bearer <jwt>` tokens with `jose`: signature (HS256 with a shared secret, or
 * RS/ES/EdDSA keys from a JWKS file or URL), `exp` (required: a token that never expires is refused), `nbf`,
 * with {@link JwtOptions.maxTokenAgeS} the age since `iat` (30 s clock tolerance for all three), issuer,
 * audience, and a `typ` header, when present, of a JWT. The principal is the `sub` claim with the roles of the
 * configured claim; its id is `jwt:<sub>`.
 *
 * Key material rotates while the server runs ({@link JwtAuthenticator.watch}): the secret or JWKS file is
 * re-read when it changes, and fails closed — a missing or invalid file leaves no key in force until a valid
 * one is back. The JWKS at a URL is fetched at start, again every {@link JWKS_REFRESH_MS} and on an unknown
 * `kid` (at most every 30 s); when a fetch fails the last good set stays in force, and a call that needs a
 * fetch (no set yet, or an unknown `kid` while the last fetch failed) gets UNAVAILABLE (`ERR_TOKEN_KEYS_UNAVAILABLE`) rather than
 * UNAUTHENTICATED: the caller's token may be valid, the server cannot tell.
 */
export class JwtAuthenticator {
  /** Why the last JWKS fetch failed; undefined once one succeeds. */
  private fetchFailure: string | undefined;

  private constructor(
    private key: VerificationKey | undefined,
    private readonly options: JwtOptions,
    private readonly remote: RemoteJWKSet | undefined,
  ) {}

  /**
   * Loads the verification key material; a JWKS URL is fetched once (a failure is logged, and calls get
   * UNAVAILABLE until a fetch succeeds).
   *
   * @throws when a key file is missing or invalid.
   */
  static async create(options: JwtOptions, logger?: Logger): Promise<JwtAuthenticator> {
    const { keys } = options;
    if (keys.kind !== 'jwks-url') return new JwtAuthenticator(readKeyFile(keys), options, undefined);
    const remote = createRemoteJWKSet(new URL(keys.url), {
      timeoutDuration: 2_000,
      cooldownDuration: 30_000,
      // Never refetched on the call path because the set is old: JWKS_REFRESH_MS does that in the background.
      cacheMaxAge: Infinity,
      // Every fetch, in the background or on the call path, says whether the issuer is reachable.
      [customFetch]: async (url, init) => {
        try {
          const response = await fetch(url, init);
          authenticator.fetchFailure =
            response.status === 200 ? undefined : `HTTP ${String(response.status)}`;
          return response;
        } catch (error) {
          authenticator.fetchFailure = fetchProblem(error);
          throw error;
        }
      },
    });
    const getKey: JWTVerifyGetKey = async (header, token) => {
      try {
        return await remote(header, token);
      } catch (error) {
        // An unknown kid while the issuer cannot be reached may be a key it has just rotated in.
        if (error instanceof joseErrors.JWKSNoMatchingKey && authenticator.fetchFailure !== undefined)
          throw new KeysUnavailable(authenticator.fetchFailure);
        if (error instanceof joseErrors.JWKSNoMatchingKey) throw error;
        if (error instanceof joseErrors.JWKSMultipleMatchingKeys) throw error;
        authenticator.fetchFailure = fetchProblem(error);
        throw new KeysUnavailable(authenticator.fetchFailure);
      }
    };
    const authenticator = new JwtAuthenticator({ kind: 'key-set', getKey }, options, remote);
    await authenticator.refresh(logger);
    return authenticator;
  }

  /**
   * Keeps the key material current: re-reads a secret or JWKS file when it changes (polled every
   * `intervalMs`), or refetches a JWKS URL every `jwksRefreshMs`. Returns a function that stops it.
   */
  watch(options: { intervalMs: number; jwksRefreshMs?: number; logger: Logger }): () => void {
    const { keys } = this.options;
    const { logger } = options;
    if (keys.kind === 'jwks-url') {
      const timer = setInterval(() => void this.refresh(logger), options.jwksRefreshMs ?? JWKS_REFRESH_MS);
      timer.unref();
      return () => clearInterval(timer);
    }
    const listener = () => {
      try {
        this.key = readKeyFile(keys);
        logger.info({ path: keys.path }, 'JWT verification key reloaded');
      } catch (error) {
        this.key = undefined;
        logger.error(
          { err: error, path: keys.path },
          'JWT key file missing or invalid: every bearer token is refused until a valid file is back',
        );
      }
    };
    watchFile(keys.path, { interval: options.intervalMs, persistent: false }, listener);
    return () => unwatchFile(keys.path, listener);
  }

  /**
   * The principal a token proves.
   *
   * @throws InvalidTokenError saying what is wrong (no `exp`, expired, too old, not yet valid, wrong audience,
   *   issuer or type, bad signature, no key loaded).
   * @throws AppError UNAVAILABLE when the issuer's keys cannot be fetched.
   */
  async authenticate(token: string): Promise<Principal> {
    const { key } = this;
    try {
      if (key === undefined)
        throw new InvalidTokenError('no token verification key is loaded (see the server log)');
      const { payload, protectedHeader } =
        key.kind === 'secret'
          ? await jwtVerify(token, key.secret, this.verifyOptions(['HS256']))
          : await jwtVerify(
              token,
              key.getKey,
              this.verifyOptions(['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA']),
            );
      const { typ } = protectedHeader;
      if (typ !== undefined && !ACCEPTED_TYPES.has(typ.toLowerCase()))
        throw new InvalidTokenError(`the token type "${typ.slice(0, 40)}" is not a JWT`);
      const claim = payload[this.options.rolesClaim];
      const roles = Array.isArray(claim) ? claim : typeof claim === 'string' ? claim.split(' ') : [];
      if (typeof payload.sub !== 'string' || payload.sub === '')
        throw new InvalidTokenError('the token has no subject');
      return { id: jwtPrincipalId(payload.sub), roles: toRoles(roles), via: 'jwt' };
    } catch (error) {
      if (error instanceof KeysUnavailable) throw errors.tokenKeysUnavailable(error.message);
      throw error instanceof InvalidTokenError
        ? error
        : new InvalidTokenError(describe(error, this.options.maxTokenAgeS));
    }
  }

  /** Fetches the JWKS again; on failure the last good set stays in force. */
  private async refresh(logger: Logger | undefined): Promise<void> {
    try {
      await this.remote?.reload();
    } catch (error) {
      this.fetchFailure = fetchProblem(error);
      const kept = this.remote?.jwks() !== undefined;
      logger?.warn(
        { problem: this.fetchFailure, keys: kept ? 'last good set kept' : 'none yet' },
        'JWKS fetch failed',
      );
    }
  }

  private verifyOptions(algorithms: string[]): JWTVerifyOptions {
    const { issuer, audience, maxTokenAgeS } = this.options;
    return {
      issuer,
      audience,
      algorithms,
      // jose only checks `exp` when the token has one.
      requiredClaims: ['exp'],
      ...(maxTokenAgeS !== undefined && { maxTokenAge: maxTokenAgeS }),
      clockTolerance: 30,
    };
  }
}

/**
 * Reads a secret or JWKS file.
 *
 * @throws Error naming the file and what is wrong with it.
 */
function readKeyFile(keys: Exclude<JwtKeySource, { kind: 'jwks-url' }>): VerificationKey {
  if (keys.kind === 'hs256-secret-file') {
    const secret = new TextEncoder().encode(readFileSync(keys.path, 'utf8').trim());
    if (secret.length < 32) throw new Error(`${keys.path}: an HS256 secret must have at least 32 bytes`);
    return { kind: 'secret', secret };
  }
  let set: JSONWebKeySet;
  try {
    set = JSON.parse(readFileSync(keys.path, 'utf8')) as JSONWebKeySet;
  } catch (error) {
    throw new Error(`${keys.path}: not a JSON key set (${String(error)})`);
  }
  return { kind: 'key-set', getKey: createLocalJWKSet(set) };
}

/** What went wrong fetching the JWKS, in words safe to send back. */
function fetchProblem(error: unknown): string {
  if (error instanceof joseErrors.JWKSTimeout) return 'the request timed out';
  if (error instanceof joseErrors.JOSEError) return error.message;
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return typeof cause === 'string' ? `fetch failed: ${cause}` : 'fetch failed';
}

function describe(error: unknown, maxTokenAgeS: number | undefined): string {
  // jose reports a token older than maxTokenAge as expired too, on the `iat` claim.
  if (error instanceof joseErrors.JWTExpired && error.claim === 'iat')
    return `the token is too old: issued more than ${String(maxTokenAgeS)} s ago`;
  if (error instanceof joseErrors.JWTExpired) return 'the token has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed && error.reason === 'missing')
    return error.claim === 'exp'
      ? 'claim "exp" is required: tokens must expire'
      : `claim "${error.claim}" is required`;
  if (error instanceof joseErrors.JWTClaimValidationFailed)
    return `claim "${error.claim}" is not valid: ${error.reason}`;
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'the token signature is not valid';
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'the token algorithm is not allowed';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'no key matches the token';
  if (error instanceof joseErrors.JOSEError) return `the token is not valid (${error.code})`;
  return 'the token is not valid';
}

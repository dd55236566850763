import { readFile } from 'node:fs/promises';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from 'jose';
import { toRoles, type Principal } from './principal.js';

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

/**
 * Verifies `authorization: Bearer <jwt>` tokens with `jose`: signature (HS256 with a shared secret, or
 * RS/ES/EdDSA keys from a JWKS file or URL — the URL's keys are cached and refetched on an unknown `kid`),
 * `exp` (required: a token that never expires is refused), `nbf`, with {@link JwtOptions.maxTokenAgeS} the
 * age since `iat` (30 s clock tolerance for all three), issuer and audience. The principal is the `sub`
 * claim with the roles of the configured claim.
 */
export class JwtAuthenticator {
  private constructor(
    private readonly key: Uint8Array | JWTVerifyGetKey,
    private readonly options: JwtOptions,
  ) {}

  /** Loads the verification key material. @throws when a key file is missing or invalid. */
  static async create(options: JwtOptions): Promise<JwtAuthenticator> {
    const { keys } = options;
    let key: Uint8Array | JWTVerifyGetKey;
    if (keys.kind === 'hs256-secret-file') {
      key = new TextEncoder().encode((await readFile(keys.path, 'utf8')).trim());
      if (key.length < 32) throw new Error(`${keys.path}: an HS256 secret must have at least 32 bytes`);
    } else if (keys.kind === 'jwks-file') {
      key = createLocalJWKSet(JSON.parse(await readFile(keys.path, 'utf8')) as JSONWebKeySet);
    } else {
      key = createRemoteJWKSet(new URL(keys.url), { timeoutDuration: 2_000, cooldownDuration: 30_000 });
    }
    return new JwtAuthenticator(key, options);
  }

  /**
   * The principal a token proves.
   *
   * @throws InvalidTokenError saying what is wrong (no `exp`, expired, too old, not yet valid, wrong audience or
   * issuer, bad signature).
   */
  async authenticate(token: string): Promise<Principal> {
    try {
      const verify =
        this.key instanceof Uint8Array
          ? jwtVerify(token, this.key, this.verifyOptions(['HS256']))
          : jwtVerify(
              token,
              this.key,
              this.verifyOptions(['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA']),
            );
      const { payload } = await verify;
      const claim = payload[this.options.rolesClaim];
      const roles = Array.isArray(claim) ? claim : typeof claim === 'string' ? claim.split(' ') : [];
      if (typeof payload.sub !== 'string' || payload.sub === '')
        throw new InvalidTokenError('the token has no subject');
      return { id: payload.sub, roles: toRoles(roles), via: 'jwt' };
    } catch (error) {
      throw error instanceof InvalidTokenError
        ? error
        : new InvalidTokenError(describe(error, this.options.maxTokenAgeS));
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

import { z } from 'zod';

/**
 * The roles a caller can hold; each RPC allows some of them (`security/method-roles.ts`). The configuration
 * owns the vocabulary because rate limits and key files name roles; security builds on it.
 */
export const ROLES = ['scorer', 'batch', 'admin'] as const;

/** A role: `scorer` (online scoring), `batch` (batch streams), `admin` (model administration). */
export type Role = (typeof ROLES)[number];

/** Rate and burst of one token bucket (`RATE_LIMITS`). */
export interface BucketLimit {
  /** Tokens added per second. */
  readonly ratePerSecond: number;
  /** Bucket size: the largest burst allowed after a quiet period. */
  readonly burst: number;
}

/** Transport security of the gRPC port. */
export interface TlsConfig {
  /** `GRPC_TLS`: `plaintext`, `tls` or `mtls` (client certificates required). */
  readonly mode: 'plaintext' | 'tls' | 'mtls';
  /** `TLS_CERT_FILE`: server certificate chain (PEM). */
  readonly certFile: string | undefined;
  /** `TLS_KEY_FILE`: server private key (PEM). */
  readonly keyFile: string | undefined;
  /** `TLS_CLIENT_CA_FILE`: CA bundle client certificates must chain to (mtls). */
  readonly clientCaFile: string | undefined;
  /** `TLS_RELOAD_INTERVAL_MS`: how often the PEM files are re-read (cert-manager/Vault rotation). @default 60000 */
  readonly reloadIntervalMs: number;
}

/** Who may call. */
export interface AuthConfig {
  /** `AUTH_MODE`: `none` (every call gets every role) or `required`. */
  readonly mode: 'none' | 'required';
  /** `API_KEYS_FILE`: JSON list of `{name, sha256, roles}`; reloaded when it changes. */
  readonly apiKeysFile: string | undefined;
  /** `API_KEYS_RELOAD_INTERVAL_MS`: how often the key files (API keys, JWT secret or JWKS) are checked for changes. @default 10000 */
  readonly apiKeysReloadIntervalMs: number;
  /** JWT verification, when a key source is configured. */
  readonly jwt:
    | {
        /**
         * `JWT_HS256_SECRET_FILE` | `JWT_JWKS_FILE` | `JWT_JWKS_URL` (exactly one). The URL must be https
         * unless its host is loopback (`localhost`, `127.0.0.0/8`, `[::1]`).
         */
        readonly keys:
          | { kind: 'hs256-secret-file'; path: string }
          | { kind: 'jwks-file'; path: string }
          | { kind: 'jwks-url'; url: string };
        /** `JWT_ISSUER`. */
        readonly issuer: string;
        /** `JWT_AUDIENCE`. */
        readonly audience: string;
        /** `JWT_ROLES_CLAIM`. @default "roles" */
        readonly rolesClaim: string;
        /**
         * `JWT_MAX_TOKEN_AGE_S`: oldest accepted token, in seconds since its `iat` (then required), on top of
         * its `exp` (always required). @default unset (only `exp`)
         */
        readonly maxTokenAgeS: number | undefined;
      }
    | undefined;
}

/** Security settings, part of {@link Config}. */
export interface SecurityConfig {
  readonly tls: TlsConfig;
  readonly auth: AuthConfig;
  /**
   * `RATE_LIMITS`: per-principal token buckets by role, `role=rate:burst,...`, in tokens per second. Every
   * call takes a token, and so does every message a scoring stream receives (a ScoreStream chunk): a
   * stream with an empty bucket stops reading until a token is back. The principal's most generous role
   * sizes its one bucket. @default "scorer=1000:2000,batch=200:400,admin=20:40"
   */
  readonly rateLimits: Partial<Record<Role, BucketLimit>>;
  /**
   * `MAX_STREAMS_PER_PRINCIPAL`: streaming calls one principal may have open at once; the next one gets
   * RESOURCE_EXHAUSTED (`ERR_PRINCIPAL_STREAM_LIMIT`) until one ends. 0 = unlimited; the anonymous principal
   * of `AUTH_MODE=none` is not limited. @default 8
   */
  readonly maxStreamsPerPrincipal: number;
  /**
   * `MAX_IN_FLIGHT`: unary API calls in flight beyond which new ones are shed with RESOURCE_EXHAUSTED, as
   * they arrive and before their request is decoded (`grpc/early-admission.ts`). @default 512
   */
  readonly maxInFlight: number;
  /** `REFLECTION_ENABLED`: serve gRPC server reflection (open to all callers). @default true */
  readonly reflectionEnabled: boolean;
}

const optionalPath = z.string().trim().min(1).optional();
const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Whether `url` names this machine: the only place a JWKS or Vault may be reached over plain http. */
export function isLoopback(url: URL): boolean {
  return (
    url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(url.hostname)
  );
}

// Keys fetched over plain http could be swapped by anyone on the path, who could then mint any token.
const jwksUrlSchema = z
  .url({ protocol: /^https?$/ })
  .refine((value) => {
    const url = new URL(value);
    return url.protocol === 'https:' || isLoopback(url);
  }, 'must be an https:// URL (plain http only to a loopback host: localhost, 127.0.0.1, [::1])')
  .optional();

const rateLimitsSchema = z
  .string()
  .default('scorer=1000:2000,batch=200:400,admin=20:40')
  .transform((text, ctx) => {
    const limits: Partial<Record<Role, BucketLimit>> = {};
    for (const part of text
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)) {
      const match = /^([a-z]+)=(\d+(?:\.\d+)?):(\d+)$/.exec(part);
      const role = match?.[1] as Role | undefined;
      if (
        match === null ||
        role === undefined ||
        !ROLES.includes(role) ||
        Number(match[2]) <= 0 ||
        Number(match[3]) < 1
      ) {
        ctx.addIssue({
          code: 'custom',
          message: `"${part}" is not role=rate:burst with a role of ${ROLES.join(', ')}`,
        });
        return z.NEVER;
      }
      limits[role] = { ratePerSecond: Number(match[2]), burst: Number(match[3]) };
    }
    return limits;
  });

/** The security variables, merged into the environment schema. */
export const securityEnvironment = {
  GRPC_TLS: z.enum(['plaintext', 'tls', 'mtls']).optional(),
  TLS_CERT_FILE: optionalPath,
  TLS_KEY_FILE: optionalPath,
  TLS_CLIENT_CA_FILE: optionalPath,
  TLS_RELOAD_INTERVAL_MS: integer(1_000, 86_400_000).default(60_000),
  AUTH_MODE: z.enum(['none', 'required']).optional(),
  API_KEYS_FILE: optionalPath,
  API_KEYS_RELOAD_INTERVAL_MS: integer(100, 86_400_000).default(10_000),
  JWT_HS256_SECRET_FILE: optionalPath,
  JWT_JWKS_FILE: optionalPath,
  JWT_JWKS_URL: jwksUrlSchema,
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).optional(),
  JWT_ROLES_CLAIM: z.string().min(1).default('roles'),
  JWT_MAX_TOKEN_AGE_S: integer(1, 31_536_000).optional(),
  RATE_LIMITS: rateLimitsSchema,
  MAX_STREAMS_PER_PRINCIPAL: integer(0, 1_000_000).default(8),
  MAX_IN_FLIGHT: integer(1, 1_000_000).default(512),
  REFLECTION_ENABLED: z.stringbool().default(true),
};

type SecurityEnvironment = z.infer<z.ZodObject<typeof securityEnvironment>>;

/**
 * Builds the security settings and adds a message per problem to `problems`.
 *
 * Plaintext and unauthenticated serving are the defaults only for the embedded quick start (no
 * DATABASE_URL); a deployment with a real database must choose GRPC_TLS and AUTH_MODE explicitly.
 */
export function parseSecurityConfig(
  e: SecurityEnvironment,
  context: { embedded: boolean },
  problems: string[],
): SecurityConfig {
  const tlsMode = e.GRPC_TLS ?? (context.embedded ? 'plaintext' : undefined);
  if (tlsMode === undefined) {
    problems.push('GRPC_TLS: required when DATABASE_URL is set: tls, mtls, or plaintext (explicitly)');
  }
  if (
    (tlsMode === 'tls' || tlsMode === 'mtls') &&
    (e.TLS_CERT_FILE === undefined || e.TLS_KEY_FILE === undefined)
  ) {
    problems.push(`TLS_CERT_FILE, TLS_KEY_FILE: both required with GRPC_TLS=${tlsMode}`);
  }
  if (tlsMode === 'mtls' && e.TLS_CLIENT_CA_FILE === undefined) {
    problems.push('TLS_CLIENT_CA_FILE: required with GRPC_TLS=mtls');
  }

  const authMode = e.AUTH_MODE ?? (context.embedded ? 'none' : undefined);
  if (authMode === undefined) {
    problems.push('AUTH_MODE: required when DATABASE_URL is set: required, or none (explicitly)');
  }
  const jwtSources = [
    e.JWT_HS256_SECRET_FILE && { kind: 'hs256-secret-file' as const, path: e.JWT_HS256_SECRET_FILE },
    e.JWT_JWKS_FILE && { kind: 'jwks-file' as const, path: e.JWT_JWKS_FILE },
    e.JWT_JWKS_URL && { kind: 'jwks-url' as const, url: e.JWT_JWKS_URL },
  ].filter((source) => typeof source === 'object');
  if (jwtSources.length > 1) {
    problems.push('JWT_HS256_SECRET_FILE, JWT_JWKS_FILE, JWT_JWKS_URL: set at most one');
  }
  const jwtKeys = jwtSources[0];
  if (jwtKeys !== undefined && (e.JWT_ISSUER === undefined || e.JWT_AUDIENCE === undefined)) {
    problems.push('JWT_ISSUER, JWT_AUDIENCE: both required when a JWT key source is set');
  }
  if (authMode === 'required' && e.API_KEYS_FILE === undefined && jwtKeys === undefined) {
    problems.push(
      'AUTH_MODE: required needs API_KEYS_FILE or a JWT key source (JWT_HS256_SECRET_FILE, JWT_JWKS_FILE, JWT_JWKS_URL)',
    );
  }

  return {
    tls: {
      mode: tlsMode ?? 'plaintext',
      certFile: e.TLS_CERT_FILE,
      keyFile: e.TLS_KEY_FILE,
      clientCaFile: e.TLS_CLIENT_CA_FILE,
      reloadIntervalMs: e.TLS_RELOAD_INTERVAL_MS,
    },
    auth: {
      mode: authMode ?? 'required',
      apiKeysFile: e.API_KEYS_FILE,
      apiKeysReloadIntervalMs: e.API_KEYS_RELOAD_INTERVAL_MS,
      jwt:
        jwtKeys === undefined || e.JWT_ISSUER === undefined || e.JWT_AUDIENCE === undefined
          ? undefined
          : {
              keys: jwtKeys,
              issuer: e.JWT_ISSUER,
              audience: e.JWT_AUDIENCE,
              rolesClaim: e.JWT_ROLES_CLAIM,
              maxTokenAgeS: e.JWT_MAX_TOKEN_AGE_S,
            },
    },
    rateLimits: e.RATE_LIMITS,
    maxStreamsPerPrincipal: e.MAX_STREAMS_PER_PRINCIPAL,
    maxInFlight: e.MAX_IN_FLIGHT,
    reflectionEnabled: e.REFLECTION_ENABLED,
  };
}

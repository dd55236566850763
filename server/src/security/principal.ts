import { ROLES, type Role } from '../config/security-config.js';

/** An authenticated caller. */
export interface Principal {
  /**
   * Stable identity for logs, audit rows, rate limits and stream caps, prefixed by how the caller
   * authenticated — `key:<name>` for an API key, `jwt:<sub>` for a JWT (one issuer, `JWT_ISSUER`) — so that
   * a key named like a token's subject is another principal, with its own bucket and audit identity;
   * `anonymous` when authentication is off.
   */
  readonly id: string;
  readonly roles: ReadonlySet<Role>;
  /** How the caller proved its identity. */
  readonly via: 'api-key' | 'jwt' | 'anonymous';
}

/** The principal of calls when authentication is off (`AUTH_MODE=none`): every role. */
export const ANONYMOUS: Principal = Object.freeze({
  id: 'anonymous',
  roles: new Set<Role>(ROLES),
  via: 'anonymous' as const,
});

/** The principal id of the API key named `name`. */
export function apiKeyPrincipalId(name: string): string {
  return `key:${name}`;
}

/** The principal id of a JWT with subject `sub` (issuer `JWT_ISSUER`, the only one trusted). */
export function jwtPrincipalId(sub: string): string {
  return `jwt:${sub}`;
}

/** Keeps the known roles of a claim or key entry; unknown role names are ignored. */
export function toRoles(values: readonly unknown[]): Set<Role> {
  return new Set(values.filter((value): value is Role => ROLES.includes(value as Role)));
}

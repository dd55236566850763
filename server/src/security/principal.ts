import { ROLES, type Role } from '../config/security-config.js';

/** An authenticated caller. */
export interface Principal {
  /** Stable identity for logs, audit rows and rate limits: the API key's name or the JWT subject. */
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

/** Keeps the known roles of a claim or key entry; unknown role names are ignored. */
export function toRoles(values: readonly unknown[]): Set<Role> {
  return new Set(values.filter((value): value is Role => ROLES.includes(value as Role)));
}

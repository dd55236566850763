import { errors } from '../../errors.js';
import { OPEN, rolesFor } from '../../security/method-roles.js';
import type { Logger } from '../../telemetry/logger.js';
import type { Principal } from '../../security/principal.js';
import type { SyncGuard } from './admission.js';

/** Stands in when no authentication guard ran: nobody, with no role. */
const ANONYMOUS_WITHOUT_ROLES: Principal = { id: 'unauthenticated', roles: new Set(), via: 'anonymous' };

/**
 * Lets a call through only when the principal holds one of the roles the method table allows; anything
 * else (including an RPC without a rule) is PERMISSION_DENIED and written to the audit log.
 */
export function authorizationGuard(logger: Logger): SyncGuard {
  const audit = logger.child({ audit: 'auth' });
  return (call, context, admission) => {
    const rule = rolesFor(call.method.path);
    if (rule !== OPEN) {
      const allowed = rule ?? [];
      const principal = admission.principal ?? ANONYMOUS_WITHOUT_ROLES;
      if (!allowed.some((role) => principal.roles.has(role))) {
        const method = call.method.path.split('/').pop() ?? call.method.path;
        audit.warn(
          { method: call.method.path, peer: context.peer, principal: principal.id },
          'permission denied',
        );
        throw errors.permissionDenied(principal.id, [...principal.roles], method, allowed);
      }
    }
    return undefined;
  };
}

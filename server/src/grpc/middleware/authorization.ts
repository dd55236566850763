import type { CallContext, ServerMiddlewareCall } from 'nice-grpc-common';
import { errors } from '../../errors.js';
import { OPEN, rolesFor } from '../../security/method-roles.js';
import type { Logger } from '../../telemetry/logger.js';
import type { PrincipalContext } from './authentication.js';

/**
 * Lets a call through only when the principal holds one of the roles the method table allows; anything
 * else (including an RPC without a rule) is PERMISSION_DENIED and written to the audit log.
 */
export function authorizationMiddleware(logger: Logger) {
  const audit = logger.child({ audit: 'auth' });
  return async function* authorizeCall<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext & PrincipalContext,
  ) {
    const rule = rolesFor(call.method.path);
    if (rule !== OPEN) {
      const allowed = rule ?? [];
      const { principal } = context;
      if (!allowed.some((role) => principal.roles.has(role))) {
        const method = call.method.path.split('/').pop() ?? call.method.path;
        audit.warn(
          { method: call.method.path, peer: context.peer, principal: principal.id },
          'permission denied',
        );
        throw errors.permissionDenied(principal.id, [...principal.roles], method, allowed);
      }
    }
    return yield* call.next(call.request, context);
  };
}

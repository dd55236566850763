import type { Priority } from '../scheduling/priority.js';
import type { Principal } from '../security/principal.js';

/**
 * Everything the handlers and the layers below them need to know about a call, built once by admission
 * (`stages/admission.ts`) when the call is let in, and handed to the handlers as a typed context
 * extension (`context.plan`). Nothing below the handlers reads metadata or casts the context.
 */
export interface CallPlan {
  /** Aborts when the client cancels or the server cuts calls short. */
  readonly signal: AbortSignal;
  /**
   * `Date.now()` after which a unary call must stop: the client's deadline or REQUEST_TIMEOUT_MS, whichever
   * comes first; undefined for streams and for the RPCs without a deadline guard (admin, health).
   */
  readonly deadline: number | undefined;
  /** From the method table: online for unary APIs, batch for the scoring streams. */
  readonly priority: Priority;
  /** Who is calling (the anonymous principal with every role when AUTH_MODE=none). */
  readonly principal: Principal;
  /** The W3C trace the call belongs to, when the caller sent one or tracing started one. */
  readonly trace: { readonly traceId: string; readonly spanId: string } | undefined;
}

/** The context extension every handler behind admission receives. */
export interface CallPlanContext {
  readonly plan: CallPlan;
}

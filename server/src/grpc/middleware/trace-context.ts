import type { CallContext, ServerMiddlewareCall } from 'nice-grpc-common';

/** The W3C trace a call belongs to, when the caller sent one (or tracing started one). */
export interface TraceContext {
  readonly trace: { readonly traceId: string; readonly spanId: string } | undefined;
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

/**
 * With tracing off: reads the caller's W3C `traceparent` so that log lines and audit rows still name the
 * caller's trace, without OpenTelemetry's context machinery (Node 20's AsyncLocalStorage costs a promise
 * hook on every promise; the profile showed it at about a third of a call's CPU).
 */
export async function* traceContextMiddleware<Request, Response>(
  call: ServerMiddlewareCall<Request, Response, TraceContext>,
  context: CallContext,
) {
  const header = context.metadata.get('traceparent');
  const match = typeof header === 'string' ? TRACEPARENT.exec(header) : null;
  const trace = match === null ? undefined : { traceId: match[1]!, spanId: match[2]! };
  return yield* call.next(call.request, { ...context, trace });
}

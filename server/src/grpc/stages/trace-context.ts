import type { CallContext, ServerError, Status } from 'nice-grpc-common';
import type { CallPlan } from '../call-plan.js';
import type { GuardedCall } from './admission.js';

/** How one call is traced: the trace it belongs to, how its steps run in it, and the end of its span. */
export interface CallTrace {
  /** The W3C trace the call belongs to, when the caller sent one (or tracing started one). */
  readonly trace: CallPlan['trace'];
  /** Runs one step of the handler inside the call's trace, so child spans and log lines attach to it. */
  run<T>(step: () => T): T;
  /** The call ended with `code` (and `error`, unless OK). */
  end(code: Status, error?: ServerError): void;
}

/** Starts a call's {@link CallTrace}: {@link callerTrace} with tracing off, `serverSpans` with it on. */
export type TraceStage = (call: GuardedCall, context: CallContext) => CallTrace;

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

const runPlainly = <T>(step: () => T): T => step();
const nothingToEnd = (): void => undefined;
const UNTRACED: CallTrace = { trace: undefined, run: runPlainly, end: nothingToEnd };

/**
 * With tracing off: reads the caller's W3C `traceparent` so that log lines and audit rows still name the
 * caller's trace, without OpenTelemetry's context machinery (Node 20's AsyncLocalStorage costs a promise
 * hook on every promise; the profile showed it at about a third of a call's CPU).
 */
export const callerTrace: TraceStage = (_, context) => {
  const header = context.metadata.get('traceparent');
  const match = typeof header === 'string' ? TRACEPARENT.exec(header) : null;
  if (match === null) return UNTRACED;
  return { trace: { traceId: match[1]!, spanId: match[2]! }, run: runPlainly, end: nothingToEnd };
};

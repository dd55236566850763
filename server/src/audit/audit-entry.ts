/**
 * One audited prediction, as it is queued, spilled and written: a row of `prediction_audit`, plus the
 * call's span id, which is not stored but links the `audit.write` span to the audited call.
 */
export interface AuditEntry {
  readonly predictedAt: Date;
  readonly requestId: string;
  /** The authenticated caller's principal id (`Principal.id`); null for the anonymous one of AUTH_MODE=none. */
  readonly principal: string | null;
  readonly customerId: string;
  readonly model: string;
  readonly modelVersion: string;
  readonly score: number;
  readonly featureSource: 'store' | 'inline' | 'fallback';
  /** Trace and span of the call, when it was traced (only the trace id is stored). */
  readonly traceId: string | null;
  readonly spanId: string | null;
}

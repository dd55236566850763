/**
 * One audited prediction, as it is queued, spilled and written: a row of `prediction_audit`, plus the
 * call's span id, which is not stored but links the `audit.write` span to the audited call.
 */
export interface AuditEntry {
  readonly predictedAt: Date;
  readonly requestId: string;
  /**
   * The caller's principal id (`Principal.id`), or null. Score calls record null for now, even when the
   * caller authenticated: `scoring-service.ts` does not pass the principal on.
   */
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

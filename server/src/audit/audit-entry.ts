/** One audited prediction: a row of `prediction_audit`. */
export interface AuditEntry {
  readonly predictedAt: Date;
  readonly requestId: string;
  /** The authenticated caller, once authentication exists; null until then. */
  readonly principal: string | null;
  readonly customerId: string;
  readonly model: string;
  readonly modelVersion: string;
  readonly score: number;
  readonly featureSource: 'store' | 'inline' | 'fallback';
  /** Trace and span of the call, when it was traced. */
  readonly traceId: string | null;
  readonly spanId: string | null;
}

/**
 * One audited prediction, as it is queued, spilled and written: a row of `prediction_audit`, plus the
 * call's span id, which is not stored but links the `audit.write` span to the audited call. A Score
 * call's customer ({@link ScoreAuditEntry}) or one row of a V2 ModelInfer call's input tensor
 * ({@link ModelInferAuditEntry}); the `method` column tells them apart (migration 0009).
 */
export type AuditEntry = ScoreAuditEntry | ModelInferAuditEntry;

/** What every audit row records about the call. */
interface AuditedCall {
  readonly predictedAt: Date;
  readonly requestId: string;
  /** The authenticated caller's principal id (`Principal.id`); null for the anonymous one of AUTH_MODE=none. */
  readonly principal: string | null;
  readonly model: string;
  readonly modelVersion: string;
  /** Trace and span of the call, when it was traced (only the trace id is stored). */
  readonly traceId: string | null;
  readonly spanId: string | null;
}

/** One customer scored by a Score call (`method = 'Score'`, the default: entries without `method` are these). */
export interface ScoreAuditEntry extends AuditedCall {
  readonly method?: 'Score';
  readonly customerId: string;
  readonly score: number;
  readonly featureSource: 'store' | 'inline' | 'fallback';
}

/** A value of a V2 output as audited: numbers (64-bit integers too), booleans, strings; null for NaN/±Inf. */
export type AuditOutputValue = number | boolean | string | null;

/** One row (batch element) of a V2 ModelInfer call's input tensor (`method = 'ModelInfer'`). */
export interface ModelInferAuditEntry extends AuditedCall {
  readonly method: 'ModelInfer';
  /** V2 requests carry tensors, not customers: null (the row is identified by request id and row index). */
  readonly customerId: null;
  /** The row of the request's input tensor (0-based), i.e. of every output's first dimension. */
  readonly rowIndex: number;
  /** The model's score for the row, when the call computed the score output (it may ask for others only). */
  readonly score: number | null;
  /** The features came in the request. */
  readonly featureSource: 'inline';
  /** This row's slice of every output the response carried, by output name, flattened row-major. */
  readonly outputs: Readonly<Record<string, readonly AuditOutputValue[]>>;
}

-- Up Migration

-- The online audit log also records V2 (Open Inference Protocol) ModelInfer calls, in the same table as
-- Score's: one query answers who asked which model@version for what, and the day partitions, the retention
-- job, the grants of `roles.sql`, the batch ids of 0005 and the server's spill and replay serve both.
--
-- - `method`: the RPC that made the prediction. Rows written before this migration, and by servers that
--   predate it during a rolling upgrade, are Score rows: the default. A constant default adds the column
--   without rewriting the partitions.
-- - A ModelInfer row is one row (batch element) of the request's input tensor: `row_index` says which,
--   `outputs` holds that row's slice of every output the response carried ({"churn_probability": [0.12],
--   "contributions": [...]}), and `score` the model's score when the call computed the score output. V2
--   requests carry tensors, not customers, so `customer_id` is null; the features were in the request
--   (`feature_source` 'inline').
-- - Score rows keep what they had: a customer and a score (the CHECK). NOT VALID: every existing row is a
--   Score row whose customer_id and score were NOT NULL, and validating would scan the whole audit history
--   while holding the table's exclusive lock; new rows and new partitions are checked.
ALTER TABLE prediction_audit
  ADD COLUMN method text NOT NULL DEFAULT 'Score',
  ADD COLUMN row_index integer,
  ADD COLUMN outputs jsonb,
  ALTER COLUMN customer_id DROP NOT NULL,
  ALTER COLUMN score DROP NOT NULL;

ALTER TABLE prediction_audit ADD CONSTRAINT prediction_audit_method CHECK (
  (method = 'Score' AND customer_id IS NOT NULL AND score IS NOT NULL AND row_index IS NULL AND outputs IS NULL)
  OR (method = 'ModelInfer' AND row_index >= 0 AND outputs IS NOT NULL)
) NOT VALID;

-- Down Migration
DELETE FROM prediction_audit WHERE method <> 'Score';
ALTER TABLE prediction_audit DROP CONSTRAINT prediction_audit_method;
ALTER TABLE prediction_audit
  ALTER COLUMN score SET NOT NULL,
  ALTER COLUMN customer_id SET NOT NULL,
  DROP COLUMN outputs,
  DROP COLUMN row_index,
  DROP COLUMN method;

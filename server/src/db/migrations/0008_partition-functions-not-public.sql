-- Up Migration

-- The partition functions are SECURITY DEFINER: they run as the schema owner and create tables as it. A new
-- function is executable by PUBLIC, so every login role of the database could create partitions as the
-- owner. Only the roles of `server/src/db/roles.sql` that need them may now: the server the audit log's,
-- the batch jobs their outputs' (`test/integration/database-roles.test.ts`). The owner keeps EXECUTE.
REVOKE EXECUTE ON FUNCTION prediction_audit_partition(date) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION batch_predictions_partition(date) FROM PUBLIC;

-- Down Migration

GRANT EXECUTE ON FUNCTION prediction_audit_partition(date) TO PUBLIC;
GRANT EXECUTE ON FUNCTION batch_predictions_partition(date) TO PUBLIC;

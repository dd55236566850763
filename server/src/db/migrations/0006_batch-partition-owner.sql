-- Up Migration

-- The batch jobs create the day partition of `batch_predictions` they write to. Run as a least-privilege
-- role (Vault's dynamic credentials, the `customer_intelligence_batch` group of `server/src/db/roles.sql`)
-- they could not: creating a table needs CREATE on the schema, which Postgres 15 and later no longer give
-- to everyone. And a partition owned by a short-lived login role would keep Vault from dropping that role,
-- and retention (running as the owner) from dropping the partition.
--
-- Now the function runs as the schema owner, like `prediction_audit_partition`, and the new partition gets
-- the grants of `batch_predictions`: the jobs COPY straight into the partition, which checks the
-- partition's own privileges, not the parent's.
CREATE OR REPLACE FUNCTION batch_predictions_partition(day date) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  partition_name text := 'batch_predictions_' || to_char(day, 'YYYYMMDD');
  parent_grant record;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('customer-intelligence:batch_predictions_partition'));
  IF to_regclass(partition_name) IS NULL THEN
    EXECUTE format(
      'CREATE TABLE %I PARTITION OF batch_predictions FOR VALUES FROM (%L) TO (%L)',
      partition_name, day, day + 1
    );
    FOR parent_grant IN
      SELECT acl.privilege_type, acl.grantee
      FROM pg_class parent, aclexplode(parent.relacl) acl
      WHERE parent.oid = 'batch_predictions'::regclass AND acl.grantee <> parent.relowner
    LOOP
      EXECUTE format(
        'GRANT %s ON TABLE %I TO %s',
        parent_grant.privilege_type,
        partition_name,
        CASE WHEN parent_grant.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(parent_grant.grantee)) END
      );
    END LOOP;
  END IF;
  RETURN partition_name;
END
$$;

-- Down Migration
CREATE OR REPLACE FUNCTION batch_predictions_partition(day date) RETURNS text
LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE
  partition_name text := 'batch_predictions_' || to_char(day, 'YYYYMMDD');
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('customer-intelligence:batch_predictions_partition'));
  IF to_regclass(partition_name) IS NULL THEN
    EXECUTE format(
      'CREATE TABLE %I PARTITION OF batch_predictions FOR VALUES FROM (%L) TO (%L)',
      partition_name, day, day + 1
    );
  END IF;
  RETURN partition_name;
END
$$;
ALTER FUNCTION batch_predictions_partition(date) RESET ALL;

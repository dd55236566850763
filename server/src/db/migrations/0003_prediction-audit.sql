-- Up Migration

-- The online prediction audit log: one row per customer scored by a Score call (sampled per call by
-- AUDIT_SAMPLE_RATE), written asynchronously in batches, never on the request's critical path.
-- Partitioned by day so the retention job drops whole days.
CREATE TABLE prediction_audit (
  predicted_at   timestamptz NOT NULL,
  request_id     text NOT NULL,
  principal      text,
  customer_id    text NOT NULL,
  model          text NOT NULL,
  model_version  text NOT NULL,
  score          double precision NOT NULL,
  feature_source text NOT NULL CHECK (feature_source IN ('store', 'inline', 'fallback')),
  trace_id       text
) PARTITION BY RANGE (predicted_at);

CREATE INDEX prediction_audit_customer ON prediction_audit (customer_id, predicted_at);

-- Creates (if needed) the prediction_audit partition holding `day` (UTC) and returns its name.
-- SECURITY DEFINER: the server may run as a least-privilege role (e.g. Vault's dynamic credentials)
-- that can write rows but does not own the table, which creating a partition requires.
CREATE FUNCTION prediction_audit_partition(day date) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  partition_name text := 'prediction_audit_' || to_char(day, 'YYYYMMDD');
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('customer-intelligence:prediction_audit_partition'));
  IF to_regclass(partition_name) IS NULL THEN
    EXECUTE format(
      'CREATE TABLE %I PARTITION OF prediction_audit FOR VALUES FROM (%L) TO (%L)',
      partition_name, (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC')
    );
  END IF;
  RETURN partition_name;
END
$$;

-- Down Migration
DROP FUNCTION prediction_audit_partition(date);
DROP TABLE prediction_audit;

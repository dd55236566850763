-- Up Migration

-- One row per batch scoring run of one model: what the `score` CLI (batch/src/score/) records, and where
-- "last successful run per model" comes from (`status = 'succeeded'`, latest `finished_at`).
-- `run_date` is fixed when the run is created and is the partition key of its predictions.
CREATE TABLE batch_runs (
  run_id           text NOT NULL CHECK (run_id ~ '^[A-Za-z0-9_.:-]{1,128}$'),
  model            text NOT NULL,
  model_version    text NOT NULL,
  run_date         date NOT NULL,
  shard_count      integer NOT NULL CHECK (shard_count >= 1),
  status           text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
  started_at       timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz,
  customers_scored bigint NOT NULL DEFAULT 0,
  customers_failed bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, model)
);
CREATE INDEX batch_runs_last_success ON batch_runs (model, finished_at DESC) WHERE status = 'succeeded';
CREATE INDEX batch_runs_run_date ON batch_runs (run_date);

-- One row per shard of a run: its status, counts and checkpoint. The checkpoint is the last customer id
-- (in `customer_features` key order) whose prediction is committed; it only moves in the transaction that
-- writes the predictions up to it.
CREATE TABLE batch_run_shards (
  run_id                 text NOT NULL,
  model                  text NOT NULL,
  shard_index            integer NOT NULL CHECK (shard_index >= 0),
  status                 text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
  checkpoint_customer_id text,
  customers_scored       bigint NOT NULL DEFAULT 0,
  customers_failed       bigint NOT NULL DEFAULT 0,
  attempts               integer NOT NULL DEFAULT 1,
  started_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now(),
  finished_at            timestamptz,
  PRIMARY KEY (run_id, model, shard_index),
  FOREIGN KEY (run_id, model) REFERENCES batch_runs (run_id, model) ON DELETE CASCADE
);

-- Batch predictions, partitioned by day of the run so retention is a DROP TABLE per partition.
-- The partition key is the run's date, not `scored_at`: every row of a run, even one rewritten by a resumed
-- shard on the next day, lands in the same partition, so the primary key catches any duplicate.
CREATE TABLE batch_predictions (
  run_date      date NOT NULL,
  run_id        text NOT NULL,
  model         text NOT NULL,
  customer_id   text NOT NULL,
  model_version text NOT NULL,
  score         double precision NOT NULL,
  -- [{"feature": "...", "contribution": 0.12, "value": 3}, ...], largest |contribution| first.
  reason_codes  jsonb NOT NULL DEFAULT '[]',
  scored_at     timestamptz NOT NULL,
  PRIMARY KEY (run_id, model, customer_id, run_date)
) PARTITION BY RANGE (run_date);

-- Customers a run could not score (unknown id, missing features, ...): counted in the run and kept here.
CREATE TABLE batch_item_errors (
  run_id      text NOT NULL,
  model       text NOT NULL,
  customer_id text NOT NULL,
  run_date    date NOT NULL,
  code        integer NOT NULL,
  reason      text NOT NULL,
  message     text NOT NULL,
  failed_at   timestamptz NOT NULL,
  PRIMARY KEY (run_id, model, customer_id),
  FOREIGN KEY (run_id, model) REFERENCES batch_runs (run_id, model) ON DELETE CASCADE
);
CREATE INDEX batch_item_errors_run_date ON batch_item_errors (run_date);

-- Creates (if needed) the batch_predictions partition holding `day` and returns its name. Called when a
-- run starts; the advisory lock serialises shards that start at the same moment until their commit.
CREATE FUNCTION batch_predictions_partition(day date) RETURNS text
LANGUAGE plpgsql AS $$
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

-- Down Migration
DROP FUNCTION batch_predictions_partition(date);
DROP TABLE batch_item_errors;
DROP TABLE batch_predictions;
DROP TABLE batch_run_shards;
DROP TABLE batch_runs;

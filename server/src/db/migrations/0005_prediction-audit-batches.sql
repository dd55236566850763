-- Up Migration

-- The prediction audit batches already committed, one row per multi-row INSERT (not per prediction). The
-- server writes a batch's id in the same statement as its rows and skips the rows when the id is already
-- here, so a batch written twice — retried after a failure that hid a commit, or replayed from a spill
-- file after a crash between commit and delete — lands once. The server deletes ids older than a day:
-- long past the moment a retry or a restart's replay could present a batch again.
CREATE TABLE prediction_audit_batches (
  batch_id   uuid PRIMARY KEY,
  written_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX prediction_audit_batches_written_at ON prediction_audit_batches (written_at);

-- Down Migration
DROP TABLE prediction_audit_batches;

-- Up Migration

-- A version must pass an isolated check before any replica loads it in its own process: a server creates
-- its session and runs the warm-up in a time- and memory-limited child process first
-- (server/src/inference/model-validation.ts), because a hostile graph (a Loop that never ends, a huge
-- ConstantOfShape) would otherwise hang or OOM-kill every replica, again at every restart (issue 18).
-- `validated_sha256` records that the check passed, and for which bytes: the SHA-256 of the ONNX bytes the
-- child loaded. NULL — rows written before this migration, or by the seed or by hand — means not checked
-- yet: the first replica to want the version checks it, records the result (`state = 'failed'` with the
-- reason, or this column), and the others load it without checking again. A value other than the row's
-- `onnx_sha256` (bytes changed behind the registry's back) counts as not checked.
--
-- The server role needs UPDATE on this column (roles.sql); without it each replica checks a version once
-- per process instead of once per registry.
ALTER TABLE model_versions ADD COLUMN validated_sha256 text CHECK (validated_sha256 ~ '^[0-9a-f]{64}$');

-- Down Migration
ALTER TABLE model_versions DROP COLUMN validated_sha256;

-- Up Migration

-- A registered version is immutable: what `churn@4` names — its ONNX bytes, their SHA-256 and its manifest,
-- and the name itself (renaming a row would hand another version's bytes to `churn@4`) — never changes.
-- Only its state does (`state`, `failure_reason`: a replica that cannot load it marks it failed). New
-- bytes are a new version. The server checks the SHA-256 when it loads a version, but a role that could
-- rewrite both the bytes and their checksum would get past that check; the roles of `roles.sql` may only
-- update the state columns, and this trigger refuses the change for every role, the owner included
-- (`test/integration/model-version-immutable.test.ts`).
--
-- Deliberately corrupting a version (a test of the load-time check) needs a superuser that turns triggers
-- off for its session: `SET session_replication_role = replica`.
CREATE FUNCTION refuse_model_version_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  changed text[] := ARRAY[]::text[];
BEGIN
  IF NEW.model IS DISTINCT FROM OLD.model THEN changed := changed || 'model'::text; END IF;
  IF NEW.version IS DISTINCT FROM OLD.version THEN changed := changed || 'version'::text; END IF;
  IF NEW.onnx IS DISTINCT FROM OLD.onnx THEN changed := changed || 'onnx'::text; END IF;
  IF NEW.onnx_sha256 IS DISTINCT FROM OLD.onnx_sha256 THEN changed := changed || 'onnx_sha256'::text; END IF;
  IF NEW.manifest IS DISTINCT FROM OLD.manifest THEN changed := changed || 'manifest'::text; END IF;
  IF cardinality(changed) > 0 THEN
    RAISE EXCEPTION 'model version %@% is immutable: % cannot change after registration',
      OLD.model, OLD.version, array_to_string(changed, ', ')
      USING ERRCODE = 'restrict_violation',
            HINT = 'Register the new bytes or manifest as a new version; only state and failure_reason may change.';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER model_versions_immutable BEFORE UPDATE ON model_versions
  FOR EACH ROW EXECUTE FUNCTION refuse_model_version_change();

-- Down Migration
DROP TRIGGER model_versions_immutable ON model_versions;
DROP FUNCTION refuse_model_version_change();

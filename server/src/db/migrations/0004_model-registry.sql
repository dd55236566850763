-- Up Migration

-- The model registry: every version of every model with its ONNX bytes (checked against their SHA-256
-- on load), manifest and metrics; per model the default version, the version to roll back to, and a
-- kill switch. Every change notifies the `model_registry` channel; each server replica LISTENs and
-- converges on the new state (server/src/registry/).
CREATE TABLE model_versions (
  model          text NOT NULL CHECK (model ~ '^[a-z][a-z0-9_-]{0,62}$'),
  version        text NOT NULL CHECK (version ~ '^[A-Za-z0-9._-]{1,64}$'),
  onnx           bytea NOT NULL,
  onnx_sha256    text NOT NULL CHECK (onnx_sha256 ~ '^[0-9a-f]{64}$'),
  manifest       jsonb NOT NULL,
  -- 'failed' when a replica could not load it (failure_reason says why); it cannot become the default.
  state          text NOT NULL DEFAULT 'registered' CHECK (state IN ('registered', 'failed')),
  failure_reason text,
  registered_at  timestamptz NOT NULL DEFAULT now(),
  registered_by  text NOT NULL,
  PRIMARY KEY (model, version)
);

CREATE TABLE models (
  model            text PRIMARY KEY,
  default_version  text NOT NULL,
  -- The version that was default before the last promotion: `rollback` returns to it.
  previous_version text,
  -- 'off': serving; 'refuse': calls get UNAVAILABLE; 'previous-version': the previous version serves.
  kill_switch      text NOT NULL DEFAULT 'off' CHECK (kill_switch IN ('off', 'refuse', 'previous-version')),
  kill_reason      text,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  updated_by       text NOT NULL,
  FOREIGN KEY (model, default_version) REFERENCES model_versions (model, version),
  FOREIGN KEY (model, previous_version) REFERENCES model_versions (model, version)
);

-- Who changed what, when: every registry action (the admin API also logs them).
CREATE TABLE model_registry_events (
  id       bigserial PRIMARY KEY,
  model    text NOT NULL,
  action   text NOT NULL,
  version  text,
  actor    text NOT NULL,
  detail   jsonb NOT NULL DEFAULT '{}',
  at       timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION notify_model_registry() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('model_registry', COALESCE(NEW.model, OLD.model));
  RETURN NULL;
END
$$;

CREATE TRIGGER model_versions_notify AFTER INSERT OR UPDATE OR DELETE ON model_versions
  FOR EACH ROW EXECUTE FUNCTION notify_model_registry();
CREATE TRIGGER models_notify AFTER INSERT OR UPDATE OR DELETE ON models
  FOR EACH ROW EXECUTE FUNCTION notify_model_registry();

-- Down Migration
DROP TABLE model_registry_events;
DROP TABLE models;
DROP TABLE model_versions;
DROP FUNCTION notify_model_registry();

-- Least-privilege group roles for Customer Intelligence: what the server and the batch jobs need, and no
-- more. Run it as the schema owner after the migrations, and again after an upgrade whose migrations add
-- tables; it can run any number of times. Creating the roles the first time needs CREATEROLE (or a DBA who
-- creates them once); the grants need the tables' owner. `npm run migrate -- --grant-roles` (the chart's
-- `migration.grantRoles`) runs it after the migrations; by hand:
--
--   psql "$OWNER_DATABASE_URL" -v ON_ERROR_STOP=1 -f server/src/db/roles.sql
--
-- Login roles then only need to be members — a Vault database role's creation statement, for example:
--
--   CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'
--     IN ROLE customer_intelligence_server;
--
-- Roles are shared by every database of the cluster; the grants are this database's. Migrations and
-- retention (which drops partitions, and only a table's owner may) run as the schema owner.

-- Only the missing ones: with both in place, an owner without CREATEROLE can run this.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'customer_intelligence_server') THEN
    CREATE ROLE customer_intelligence_server NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'customer_intelligence_batch') THEN
    CREATE ROLE customer_intelligence_batch NOLOGIN;
  END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO customer_intelligence_server, customer_intelligence_batch;

-- Earlier versions of this file granted UPDATE on all of model_versions; GRANT only adds, so take it back
-- first (revoking the table privilege revokes the column privileges too) and grant the columns below.
REVOKE UPDATE ON model_versions FROM customer_intelligence_server, customer_intelligence_batch;

-- The server: features of customers scored by id, the model registry (the admin API registers, promotes,
-- rolls back and flags failed loads; every change is logged in model_registry_events), the prediction
-- audit log (its day partitions come from the SECURITY DEFINER `prediction_audit_partition`; the batch ids
-- make replays idempotent and are pruned after a day) and the batch freshness gauge. A registered
-- version's bytes and manifest never change (migration 0007 refuses it for everyone): of model_versions the
-- server only updates the state, when a version fails to load.
GRANT SELECT ON feature_registry, customer_features, batch_runs TO customer_intelligence_server;
GRANT SELECT, INSERT, UPDATE ON models TO customer_intelligence_server;
GRANT SELECT, INSERT, UPDATE (state, failure_reason, validated_sha256) ON model_versions TO customer_intelligence_server;
GRANT INSERT ON model_registry_events TO customer_intelligence_server;
GRANT USAGE ON SEQUENCE model_registry_events_id_seq TO customer_intelligence_server;
GRANT INSERT ON prediction_audit TO customer_intelligence_server;
GRANT SELECT, INSERT, DELETE ON prediction_audit_batches TO customer_intelligence_server;

-- The batch jobs: scoring (runs, shards and their checkpoints, the outputs COPYed into the run's day
-- partition, per-customer failures; scores come from the server) and training (features and labels; the
-- trained version is registered and promoted through the server's admin API, so the jobs write nothing of
-- the model registry — the REVOKEs take back what earlier versions of this file granted).
GRANT SELECT ON feature_registry, customer_features, customer_labels TO customer_intelligence_batch;
GRANT SELECT, INSERT, UPDATE ON batch_runs, batch_run_shards TO customer_intelligence_batch;
GRANT SELECT, INSERT ON batch_predictions, batch_item_errors TO customer_intelligence_batch;
REVOKE ALL ON models, model_versions, model_registry_events FROM customer_intelligence_batch;
REVOKE ALL ON SEQUENCE model_registry_events_id_seq FROM customer_intelligence_batch;

-- The SECURITY DEFINER partition functions (not executable by PUBLIC since migration 0008): each role the
-- one it needs.
GRANT EXECUTE ON FUNCTION prediction_audit_partition(date) TO customer_intelligence_server;
GRANT EXECUTE ON FUNCTION batch_predictions_partition(date) TO customer_intelligence_batch;

-- Partitions do not inherit grants: give the existing ones those of their parent (new ones get them from
-- `batch_predictions_partition`).
DO $$
DECLARE
  partition regclass;
BEGIN
  FOR partition IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'batch_predictions'::regclass
  LOOP
    EXECUTE format('GRANT SELECT, INSERT ON TABLE %s TO customer_intelligence_batch', partition);
  END LOOP;
END
$$;

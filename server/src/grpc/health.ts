import { HealthState } from 'nice-grpc-server-health';
import type { FeatureStore } from '../features/feature-store.js';
import { ScoringServiceDefinition } from '../../../gen/customer_intelligence/scoring/v1/scoring.js';
import { GRPCInferenceServiceDefinition } from '../../../gen/inference/grpc_service.js';
import type { ModelCatalog } from '../inference/model-catalog.js';
import type { Lifecycle } from '../lifecycle/lifecycle.js';

/** Health service name that reflects the feature store's breaker (NOT_SERVING while it is open). */
export const FEATURE_STORE_HEALTH_SERVICE = 'customer_intelligence.feature_store';

/**
 * The `grpc.health.v1` state, driven by the lifecycle:
 *
 * - `""` (the whole server, what Kubernetes probes ask), `customer_intelligence.scoring.v1.ScoringService`
 *   and `inference.GRPCInferenceService` (the Open Inference Protocol):
 *   SERVING only in the `serving` state, i.e. once the models are warm and the database answered;
 * - `customer_intelligence.feature_store`: NOT_SERVING while the feature-store breaker is open. The server as a
 *   whole stays SERVING then on purpose: inline-feature scoring still works, and taking every pod out of
 *   rotation during a database outage would turn a partial outage into a full one;
 * - one service per model, named after it (`churn`): SERVING while the server serves and the model is in
 *   the catalog (`ModelCatalog.isReady`, the same answer as the Open Inference Protocol's ModelReady),
 *   NOT_SERVING once it is unloaded (and while starting and draining); a name that was never a model is
 *   unknown (Check: NOT_FOUND).
 */
export function createHealth(deps: {
  lifecycle: Lifecycle;
  featureStore: FeatureStore;
  catalog: ModelCatalog;
}): HealthState {
  const { lifecycle, featureStore, catalog } = deps;
  const health = HealthState();
  // Every open Watch stream listens for changes: dozens of watchers are normal, not a listener leak (and
  // the MaxListenersExceededWarning would flood stderr; found by test/reliability/fuzz.test.ts).
  health.setMaxListeners(0);
  const serving = () => lifecycle.state === 'serving';
  const models = new Set<string>();
  const updateModel = (name: string) => {
    models.add(name);
    health.setStatus(serving() && catalog.isReady(name) ? 'healthy' : 'unhealthy', name);
  };
  const update = () => {
    const status = serving() ? 'healthy' : 'unhealthy';
    health.setStatus(status);
    health.setStatus(status, ScoringServiceDefinition.fullName);
    health.setStatus(status, GRPCInferenceServiceDefinition.fullName);
    health.setStatus(
      serving() && featureStore.available ? 'healthy' : 'unhealthy',
      FEATURE_STORE_HEALTH_SERVICE,
    );
    for (const model of catalog.list()) models.add(model.name);
    models.forEach(updateModel);
  };
  update();
  lifecycle.onChange(update);
  featureStore.onAvailabilityChange(update);
  catalog.onChange(updateModel);
  return health;
}

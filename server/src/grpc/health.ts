import { HealthState } from 'nice-grpc-server-health';
import type { FeatureStore } from '../features/feature-store.js';
import { ScoringServiceDefinition } from '../gen/customer_intelligence/scoring/v1/scoring.js';
import type { Lifecycle } from '../lifecycle/lifecycle.js';

/** Health service name that reflects the feature store's breaker (NOT_SERVING while it is open). */
export const FEATURE_STORE_HEALTH_SERVICE = 'customer_intelligence.feature_store';

/**
 * The `grpc.health.v1` state, driven by the lifecycle:
 *
 * - `""` (the whole server, what Kubernetes probes ask) and `customer_intelligence.scoring.v1.ScoringService`:
 *   SERVING only in the `serving` state, i.e. once the models are warm and the database answered;
 * - `customer_intelligence.feature_store`: NOT_SERVING while the feature-store breaker is open. The server as a
 *   whole stays SERVING then on purpose: inline-feature scoring still works, and taking every pod out of
 *   rotation during a database outage would turn a partial outage into a full one.
 */
export function createHealth(deps: { lifecycle: Lifecycle; featureStore: FeatureStore }): HealthState {
  const { lifecycle, featureStore } = deps;
  const health = HealthState();
  const serving = () => lifecycle.state === 'serving';
  const update = () => {
    const status = serving() ? 'healthy' : 'unhealthy';
    health.setStatus(status);
    health.setStatus(status, ScoringServiceDefinition.fullName);
    health.setStatus(
      serving() && featureStore.available ? 'healthy' : 'unhealthy',
      FEATURE_STORE_HEALTH_SERVICE,
    );
  };
  update();
  lifecycle.onChange(update);
  featureStore.onAvailabilityChange(update);
  return health;
}

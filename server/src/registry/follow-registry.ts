import type { RotatingPool } from '../db/rotating-pool.js';
import type { ModelCatalog } from '../inference/model-catalog.js';
import type { Closers } from '../lifecycle/closers.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { ModelRegistry } from './model-registry.js';
import { RegistrySync, type RegistrySyncOptions } from './registry-sync.js';

/**
 * The model registry on the primary pool and this replica's sync with it, wired in: the LISTEN connection
 * restarts with rotated credentials, a version a request pins is loaded on demand, and the sync's close is
 * registered. Nothing is loaded until `sync.start()`.
 */
export function followRegistry(
  deps: { pool: RotatingPool; catalog: ModelCatalog; logger: Logger; metrics: Metrics; closers: Closers },
  options: RegistrySyncOptions,
): { registry: ModelRegistry; sync: RegistrySync } {
  const { pool, catalog, logger, metrics, closers } = deps;
  const registry = new ModelRegistry(pool);
  const sync = new RegistrySync(
    { registry, catalog, connectionString: () => pool.connectionString, logger, metrics },
    options,
  );
  closers.register('model registry', () => sync.close());
  pool.onRotate(() => {
    sync
      .restartListener()
      .catch((error: unknown) => logger.warn({ err: error }, 'registry listener restart failed'));
  });
  catalog.setOnDemandLoader((name, version) => {
    void sync
      .ensureLoaded(name, version)
      .then(() => sync.refresh(name))
      .catch(() => undefined);
  });
  return { registry, sync };
}

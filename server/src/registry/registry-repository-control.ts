import { errors } from '../errors.js';
import type { ModelCatalog } from '../inference/model-catalog.js';
import { MODEL_NAME_PATTERN } from '../inference/model-manifest.js';
import type { ModelIndexEntry, ModelRepositoryControl } from '../inference/model-repository-control.js';
import type { ModelRegistry } from './model-registry.js';
import type { RegistrySync } from './registry-sync.js';

/**
 * {@link ModelRepositoryControl} over the Postgres model registry, so Triton-style clients can take a
 * model out of service and back on every replica:
 *
 * - `unload(name)` sets the model's kill switch to `refuse` ("unloaded"): calls for it get UNAVAILABLE
 *   (ERR_MODEL_SWITCHED_OFF), its health service and ModelReady say not serving — on every replica;
 * - `load(name)` clears the kill switch and re-reads the model from the registry (loading and warming any
 *   version this replica lacks before switching); FAILED_PRECONDITION when it still cannot serve;
 * - `index()` lists every registry model: the versions served here READY, others UNAVAILABLE with the reason.
 */
export function createRegistryRepositoryControl(deps: {
  registry: ModelRegistry;
  sync: RegistrySync;
  catalog: ModelCatalog;
}): ModelRepositoryControl {
  const { registry, sync, catalog } = deps;

  async function known(name: string) {
    if (!MODEL_NAME_PATTERN.test(name))
      throw errors.invalidArgument('model_name', `"${name.slice(0, 80)}" is not a model name`);
    const [model] = await registry.list(name);
    if (model === undefined)
      throw errors.modelNotFound(
        name,
        (await registry.list()).map((m) => m.model),
      );
    return model;
  }

  return {
    async index() {
      const entries: ModelIndexEntry[] = [];
      for (const model of await registry.list()) {
        const served = catalog.has(model.model) ? catalog.get(model.model) : undefined;
        for (const version of model.versions) {
          const loaded = served?.versions.has(version.version) ?? false;
          const reason =
            version.state === 'failed'
              ? `load failed: ${version.failureReason ?? ''}`
              : model.killSwitch === 'refuse'
                ? `switched off: ${model.killReason ?? 'unloaded'}`
                : loaded
                  ? ''
                  : 'not loaded';
          entries.push({
            name: model.model,
            version: version.version,
            state: reason === '' ? 'READY' : 'UNAVAILABLE',
            reason,
          });
        }
      }
      return entries;
    },

    async load(name, actor) {
      const model = await known(name);
      if (model.killSwitch !== 'off') await registry.setKillSwitch(name, 'off', '', actor);
      await sync.refresh(name);
      if (!catalog.isReady(name))
        throw errors.modelLoadFailed(name, 'its default version cannot be loaded (see ListModelVersions)');
    },

    async unload(name, actor) {
      const model = await known(name);
      if (model.killSwitch === 'refuse') return;
      await registry.setKillSwitch(name, 'refuse', 'unloaded with RepositoryModelUnload', actor);
      await sync.refresh(name);
    },
  };
}

import { errors } from '../errors.js';
import type { OnnxModel } from './onnx-model.js';

/** A model's kill switch: `refuse` answers UNAVAILABLE; `previous-version` serves the previous default. */
export interface KillSwitchState {
  readonly mode: 'off' | 'refuse' | 'previous-version';
  readonly reason: string;
}

/** A served model: its loaded versions and the one used when a request pins none. */
export interface ServedModel {
  readonly name: string;
  readonly defaultVersion: string;
  /** Loaded versions by version string. */
  readonly versions: ReadonlyMap<string, OnnxModel>;
  /** The default before the last promotion, kept loaded so a rollback is a pointer flip. */
  readonly previousVersion?: string | undefined;
  readonly killSwitch?: KillSwitchState;
  /** Every version the registry holds, loaded or not; a pinned one not loaded here is loaded on demand. */
  readonly registeredVersions?: ReadonlySet<string>;
}

/**
 * The models this process serves, by name. The registry sync (`registry/registry-sync.ts`) fills it from
 * the Postgres model registry at start-up and replaces a model's entry whenever the registry changes: a new
 * version, a promotion, a rollback, a kill switch (which is also how the Open Inference Protocol's
 * RepositoryModelLoad/Unload take a model in and out of service). Request handlers only read it.
 * Listeners (health) follow changes.
 */
export class ModelCatalog {
  private readonly models = new Map<string, ServedModel>();
  private readonly listeners: Array<(name: string) => void> = [];
  private loadOnDemand: ((name: string, version: string) => void) | undefined;
  /** When each version a request pinned (not the default or previous one) was last asked for. */
  private readonly pinnedUse = new Map<string, number>();

  /** Who loads a registered version that a request pins but this replica has not loaded (the registry sync). */
  setOnDemandLoader(loader: (name: string, version: string) => void): void {
    this.loadOnDemand = loader;
  }

  /** Adds (or replaces) a model. */
  set(model: ServedModel): void {
    if (!model.versions.has(model.defaultVersion)) {
      throw new Error(`model ${model.name}: default version ${model.defaultVersion} is not loaded`);
    }
    this.models.set(model.name, model);
    this.changed(model.name);
  }

  /** Whether a model is served. */
  has(name: string): boolean {
    return this.models.has(name);
  }

  /**
   * Whether a model (`version`, or its default when empty) can serve now. Health (`grpc.health.v1`, service
   * = model name) and the Open Inference Protocol's ModelReady both answer from this, so they agree.
   */
  isReady(name: string, version = ''): boolean {
    const model = this.models.get(name);
    return (
      model !== undefined &&
      model.killSwitch?.mode !== 'refuse' &&
      (version === '' || model.versions.has(version))
    );
  }

  /** Calls `listener` with the model's name after every {@link set} and {@link delete} (synchronously). */
  onChange(listener: (name: string) => void): void {
    this.listeners.push(listener);
  }

  /**
   * The version a request asks for: `version`, or the default when it is empty. With the kill switch on
   * `previous-version`, requests for the default version get the previous one.
   *
   * @throws AppError NOT_FOUND naming the unknown model or version; UNAVAILABLE when the model is switched
   *   off (`refuse`), or when a registered version is not loaded here yet (its load starts; retry).
   */
  resolve(name: string, version = ''): OnnxModel {
    const model = this.get(name);
    const kill = model.killSwitch;
    if (kill?.mode === 'refuse') throw errors.modelSwitchedOff(name, kill.reason);
    let wanted = version === '' ? model.defaultVersion : version;
    if (kill?.mode === 'previous-version' && wanted === model.defaultVersion) {
      if (model.previousVersion === undefined) throw errors.modelSwitchedOff(name, kill.reason);
      wanted = model.previousVersion;
    }
    const pinned = wanted !== model.defaultVersion && wanted !== model.previousVersion;
    const chosen = model.versions.get(wanted);
    if (chosen !== undefined) {
      if (pinned) this.pinnedUse.set(`${name}@${wanted}`, performance.now());
      return chosen;
    }
    if (model.registeredVersions?.has(wanted) && this.loadOnDemand !== undefined) {
      // Only versions that exist are recorded: a client's made-up version strings must not grow the map.
      this.pinnedUse.set(`${name}@${wanted}`, performance.now());
      this.loadOnDemand(name, wanted);
      throw errors.versionLoading(name, wanted);
    }
    throw errors.modelVersionNotFound(name, version, [
      ...(model.registeredVersions ?? model.versions.keys()),
    ]);
  }

  /** When a request last pinned `name@version` (`performance.now()`), if ever: what the pinned versions' LRU reads. */
  lastPinnedUse(name: string, version: string): number | undefined {
    return this.pinnedUse.get(`${name}@${version}`);
  }

  /**
   * One served model.
   *
   * @throws AppError NOT_FOUND when the model is not served.
   */
  get(name: string): ServedModel {
    const model = this.models.get(name);
    if (model === undefined) throw errors.modelNotFound(name, [...this.models.keys()]);
    return model;
  }

  /** Every served model, sorted by name. */
  list(): ServedModel[] {
    return [...this.models.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Every feature any loaded version needs. */
  requiredFeatures(): Set<string> {
    const features = new Set<string>();
    for (const model of this.models.values()) {
      for (const version of model.versions.values())
        version.featureNames.forEach((name) => features.add(name));
    }
    return features;
  }

  private changed(name: string): void {
    for (const listener of this.listeners) listener(name);
  }

  /** Releases every session. Safe to call more than once. */
  async close(): Promise<void> {
    const sessions = this.list().flatMap((model) => [...model.versions.values()]);
    this.models.clear();
    await Promise.all(sessions.map((session) => session.close()));
  }
}

/** One row of the repository index (Triton's `RepositoryIndexResponse.ModelIndex`). */
export interface ModelIndexEntry {
  readonly name: string;
  /** The version; empty for a model that is not loaded. */
  readonly version: string;
  /** `READY` (serving) or `UNAVAILABLE` (in the repository, not serving); Triton's state names. */
  readonly state: 'READY' | 'UNAVAILABLE';
  /** Why the model is in this state, e.g. `unloaded`; empty when READY. */
  readonly reason: string;
}

/**
 * Loads and unloads models while the server runs: what the Open Inference Protocol's repository
 * extension (RepositoryIndex, RepositoryModelLoad, RepositoryModelUnload) calls.
 *
 * Implementations change the `ModelCatalog`, which health and ModelReady follow. The server's implementation
 * is the Postgres model registry (`registry/registry-repository-control.ts`): unload switches the model off
 * on every replica, load switches it back on and reloads.
 */
export interface ModelRepositoryControl {
  /** Every model of the repository: one READY row per served version, one UNAVAILABLE row per model not served. */
  index(): Promise<ModelIndexEntry[]>;

  /**
   * Loads a model, or reloads it if served: the new versions are loaded and warmed first, then swapped in;
   * calls already running finish on the old ones. When loading fails, what was served keeps serving.
   *
   * @throws AppError INVALID_ARGUMENT for a malformed name, NOT_FOUND when the repository has no such
   *   model, FAILED_PRECONDITION (`ERR_MODEL_LOAD_FAILED`) when it cannot be loaded.
   * @param actor Who asked (the caller's principal id), recorded with the change.
   */
  load(name: string, actor: string): Promise<void>;

  /**
   * Stops serving a model until it is loaded again: calls for it get UNAVAILABLE
   * (`ERR_MODEL_SWITCHED_OFF`), its health turns NOT_SERVING. Unloading a model that is not loaded does
   * nothing.
   *
   * @throws AppError INVALID_ARGUMENT for a malformed name, NOT_FOUND when the repository has no such model.
   * @param actor Who asked (the caller's principal id), recorded with the change.
   */
  unload(name: string, actor: string): Promise<void>;
}

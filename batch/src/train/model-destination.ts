import type { ModelArtifact } from '../artifacts/model-artifact.js';

/**
 * Where the trainer publishes model versions. Registering a version makes it available (pinnable by
 * version); promoting it makes it the model's default, the version served when a request names none.
 *
 * Today's implementation is the file-system repository the server reads (`FileModelDestination`); the
 * Postgres model registry replaces it behind this interface.
 */
export interface ModelDestination {
  /** Where models go, for messages, e.g. `file-system repository /app/models`. */
  readonly description: string;
  /** The version the next {@link register} of `name` should carry, e.g. `"3"`. */
  nextVersion(name: string): Promise<string>;
  /** The model's current default version (the champion), or `undefined` when the model has no version. */
  champion(name: string): Promise<ModelArtifact | undefined>;
  /**
   * Stores a new version without changing the default.
   *
   * @throws Error when that version already exists (another trainer registered it first).
   */
  register(artifact: ModelArtifact): Promise<void>;
  /** Makes a registered version the default. */
  promote(name: string, version: string): Promise<void>;
}

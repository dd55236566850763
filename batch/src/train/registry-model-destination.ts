import { Status } from 'nice-grpc-common';
import type { DatabasePool } from '../../../server/src/db/rotating-pool.js';
import { AppError } from '../../../server/src/errors.js';
import type { ModelManifestInput } from '../../../server/src/inference/model-manifest.js';
import { compareVersions } from '../../../server/src/inference/model-version-order.js';
import { ModelRegistry } from '../../../server/src/registry/model-registry.js';
import type { ModelArtifact } from '../artifacts/model-artifact.js';
import type { ModelDestination } from './model-destination.js';

/**
 * The Postgres model registry as the trainer's destination: versions are registered next to the ones
 * served, the champion is the registry's default, and promoting sets the default — every server replica
 * follows within about a second (LISTEN/NOTIFY), loading and warming the new version before switching.
 * The trainer has already run the candidate through ONNX Runtime on the holdout, so it loads.
 */
export class RegistryModelDestination implements ModelDestination {
  private readonly registry: ModelRegistry;

  constructor(pool: DatabasePool) {
    this.registry = new ModelRegistry(pool);
  }

  readonly description = 'the Postgres model registry';

  async nextVersion(name: string): Promise<string> {
    const [model] = await this.registry.list(name);
    const numeric = (model?.versions ?? []).map((v) => Number(v.version)).filter(Number.isInteger);
    return String(Math.max(0, ...numeric) + 1);
  }

  async champion(name: string): Promise<ModelArtifact | undefined> {
    const [model] = await this.registry.list(name);
    if (model === undefined) return undefined;
    const { onnx, manifest } = await this.registry.artifact(name, model.defaultVersion);
    return { manifest: manifest as ModelManifestInput, onnx };
  }

  async register(artifact: ModelArtifact): Promise<void> {
    const { name, version } = artifact.manifest;
    try {
      await this.registry.register({
        model: name,
        version,
        onnx: artifact.onnx,
        manifest: artifact.manifest,
        actor: 'batch:train',
      });
    } catch (error) {
      if (error instanceof AppError && error.status === Status.ALREADY_EXISTS) {
        throw new Error(`${name}@${version} is already registered (another trainer ran?)`, { cause: error });
      }
      throw error;
    }
  }

  async promote(name: string, version: string): Promise<void> {
    await this.registry.setDefault(name, version, 'batch:train');
  }

  /** Versions of a model, oldest first (for messages and tests). */
  async versions(name: string): Promise<string[]> {
    const [model] = await this.registry.list(name);
    return (model?.versions ?? []).map((v) => v.version).sort(compareVersions);
  }
}

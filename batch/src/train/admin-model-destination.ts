import { ClientError, Status } from 'nice-grpc';
import { createModelAdminClient, type ModelAdminClient } from '../../../client/src/model-admin-client.js';
import type { ServiceClientOptions } from '../../../client/src/service-client.js';
import { parseModelManifest } from '../../../server/src/inference/model-manifest.js';
import type { ModelArtifact } from '../artifacts/model-artifact.js';
import { serializeManifest } from '../artifacts/model-artifact.js';
import type { ModelDestination } from './model-destination.js';

/** `NOT_FOUND` from the server: the model (or version) does not exist. */
const notFound = (error: unknown) => error instanceof ClientError && error.code === Status.NOT_FOUND;

/**
 * The model registry through the server's ModelAdminService (role `admin`), as every other registry client
 * goes: a version is registered with the server's manifest checks and audit line, and promoting it
 * (SetDefaultVersion) loads and warms it on the replica that answers before it becomes the default — a
 * version that cannot load fails the call and the default stays. The other replicas follow within about a
 * second. Versions are numbered: the next is one above the highest numeric version.
 */
export class AdminModelDestination implements ModelDestination {
  private readonly client: ModelAdminClient;
  readonly description: string;

  constructor(address: string, options: ServiceClientOptions = {}) {
    this.client = createModelAdminClient(address, options);
    this.description = `the model registry through ${address}`;
  }

  async nextVersion(name: string): Promise<string> {
    const numeric = (await this.versions(name)).map(Number).filter(Number.isInteger);
    return String(Math.max(0, ...numeric) + 1);
  }

  async champion(name: string): Promise<ModelArtifact | undefined> {
    try {
      const { version, onnx, manifestJson } = await this.client.getModelVersion({ model: name, version: '' });
      const manifest = parseModelManifest(JSON.parse(manifestJson), `the manifest of ${name}@${version}`);
      return { manifest, onnx };
    } catch (error) {
      if (notFound(error)) return undefined;
      throw error;
    }
  }

  async register(artifact: ModelArtifact): Promise<void> {
    const { name, version } = artifact.manifest;
    try {
      await this.client.registerModelVersion({
        model: name,
        version,
        onnx: Buffer.from(artifact.onnx),
        manifestJson: serializeManifest(artifact.manifest),
        setDefault: false,
      });
    } catch (error) {
      if (error instanceof ClientError && error.code === Status.ALREADY_EXISTS) {
        throw new Error(`${name}@${version} is already registered (another trainer ran?)`, { cause: error });
      }
      throw error;
    }
  }

  async promote(name: string, version: string): Promise<void> {
    await this.client.setDefaultVersion({ model: name, version });
  }

  /** Versions of a model, as the registry lists them (for messages and tests); none for an unknown model. */
  async versions(name: string): Promise<string[]> {
    try {
      const { models } = await this.client.listModelVersions({ model: name });
      return (models[0]?.versions ?? []).map((v) => v.version);
    } catch (error) {
      if (notFound(error)) return [];
      throw error;
    }
  }

  /** Closes the channel. */
  close(): void {
    this.client.close();
  }
}

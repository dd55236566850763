import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseModelManifest } from '../../../server/src/inference/model-manifest.js';
import { compareVersions } from '../../../server/src/inference/model-version-order.js';
import { MANIFEST_FILE, serializeManifest, type ModelArtifact } from '../artifacts/model-artifact.js';
import type { ModelDestination } from './model-destination.js';

/** `models/<name>/model.json`, which the server reads for the default version. */
const SETTINGS_FILE = 'model.json';

/**
 * The file-system model repository (`models/<name>/<version>/{model.onnx,manifest.json}`, default version
 * in `models/<name>/model.json`, else the highest version) as a {@link ModelDestination}.
 *
 * - Versions are numbered: the next is one above the highest numeric version.
 * - {@link register} creates the version folder exclusively (a concurrent trainer that picked the same
 *   number fails instead of overwriting) and writes the manifest last, after the ONNX file it names.
 *   Because the server's default without `model.json` is the highest version, registering first pins the
 *   current default in `model.json`, so a new version is never promoted implicitly.
 * - {@link promote} replaces `model.json` atomically (write a temporary file, rename it).
 *
 * The server reads the repository when it starts; a running server does not see new versions.
 */
export class FileModelDestination implements ModelDestination {
  readonly description: string;

  /** @param rootDir the repository root, e.g. `models`. */
  constructor(private readonly rootDir: string) {
    this.description = `file-system repository ${path.resolve(rootDir)}`;
  }

  async nextVersion(name: string): Promise<string> {
    const numeric = (await this.versions(name)).filter((v) => /^\d+$/.test(v)).map(Number);
    return String(numeric.length === 0 ? 1 : Math.max(...numeric) + 1);
  }

  async champion(name: string): Promise<ModelArtifact | undefined> {
    const version = await this.defaultVersion(name);
    if (version === undefined) return undefined;
    const dir = path.join(this.rootDir, name, version);
    const manifestPath = path.join(dir, MANIFEST_FILE);
    const manifest = parseModelManifest(JSON.parse(await readFile(manifestPath, 'utf8')), manifestPath);
    const onnx = await readFile(path.join(dir, manifest.onnx.file));
    return { manifest, onnx };
  }

  async register(artifact: ModelArtifact): Promise<void> {
    const { name, version } = artifact.manifest;
    const modelDir = path.join(this.rootDir, name);
    await mkdir(modelDir, { recursive: true });
    const current = await this.defaultVersion(name);
    if (current !== undefined && (await this.settings(name)) === undefined) await this.promote(name, current);
    const dir = path.join(modelDir, version);
    try {
      await mkdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new Error(`${name}@${version} already exists in ${this.description}`, { cause: error });
      }
      throw error;
    }
    await writeFile(path.join(dir, artifact.manifest.onnx.file), artifact.onnx);
    await writeFile(path.join(dir, MANIFEST_FILE), serializeManifest(artifact.manifest));
  }

  async promote(name: string, version: string): Promise<void> {
    const modelDir = path.join(this.rootDir, name);
    const temporary = path.join(modelDir, `.${SETTINGS_FILE}.${process.pid}.tmp`);
    await writeFile(temporary, `${JSON.stringify({ defaultVersion: version }, null, 2)}\n`);
    await rename(temporary, path.join(modelDir, SETTINGS_FILE));
  }

  /** The default version as the server would pick it, or `undefined` when there is no version. */
  private async defaultVersion(name: string): Promise<string | undefined> {
    return (await this.settings(name))?.defaultVersion ?? (await this.versions(name)).at(-1);
  }

  private async settings(name: string): Promise<{ defaultVersion: string } | undefined> {
    try {
      const json = JSON.parse(
        await readFile(path.join(this.rootDir, name, SETTINGS_FILE), 'utf8'),
      ) as unknown;
      const defaultVersion = (json as { defaultVersion?: unknown }).defaultVersion;
      return typeof defaultVersion === 'string' ? { defaultVersion } : undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** Version folders, lowest first. */
  private async versions(name: string): Promise<string[]> {
    try {
      const entries = await readdir(path.join(this.rootDir, name), { withFileTypes: true });
      return entries
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name)
        .sort(compareVersions);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }
}

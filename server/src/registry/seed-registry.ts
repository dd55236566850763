import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Status } from 'nice-grpc-common';
import { AppError } from '../errors.js';
import { parseModelManifest } from '../inference/model-manifest.js';
import { compareVersions } from '../inference/model-version-order.js';
import type { Logger } from '../telemetry/logger.js';
import type { ModelRegistry } from './model-registry.js';

/**
 * Imports the file-system model repository (`models/<name>/<version>/{manifest.json, model.onnx}`,
 * `models/<name>/model.json` naming the default) into the registry: versions the registry lacks are
 * registered, and a model without a default gets the folder's default (or its highest version).
 * Idempotent; several replicas starting at once converge (registration ignores existing versions and
 * the default is only set for models that have none).
 *
 * @returns the `model@version`s it registered.
 */
export async function seedRegistryFromFiles(
  registry: ModelRegistry,
  dir: string,
  logger: Logger,
): Promise<string[]> {
  const registered: string[] = [];
  const known = new Map((await registry.list()).map((model) => [model.model, model]));
  for (const name of await directories(dir)) {
    const versions = (await directories(path.join(dir, name))).sort(compareVersions);
    for (const version of versions) {
      const folder = path.join(dir, name, version);
      const manifestPath = path.join(folder, 'manifest.json');
      const manifest = parseModelManifest(JSON.parse(await readFile(manifestPath, 'utf8')), manifestPath);
      const onnx = await readFile(path.join(folder, manifest.onnx.file));
      try {
        await registry.register({ model: name, version, onnx, manifest, actor: 'seed:models-folder' });
        registered.push(`${name}@${version}`);
      } catch (error) {
        if (!(error instanceof AppError && error.status === Status.ALREADY_EXISTS)) throw error;
      }
    }
    if (!known.has(name) && versions.length > 0) {
      const settings: { defaultVersion?: string } = await readFile(
        path.join(dir, name, 'model.json'),
        'utf8',
      ).then(
        (text) => JSON.parse(text) as { defaultVersion?: string },
        () => ({}),
      );
      await registry.setDefault(name, settings.defaultVersion ?? versions.at(-1)!, 'seed:models-folder');
    }
  }
  if (registered.length > 0) logger.info({ registered }, 'model registry seeded from the models folder');
  return registered;
}

async function directories(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name);
}

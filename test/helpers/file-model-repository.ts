import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { ServedModel } from '../../server/src/inference/model-catalog.js';
import { compareVersions } from '../../server/src/inference/model-version-order.js';
import { ModelLoadError, OnnxModel } from '../../server/src/inference/onnx-model.js';

/** `models/<name>/model.json`: per-model settings of the file-system repository. */
const modelSettingsSchema = z.object({ defaultVersion: z.string().min(1) }).strict();

/**
 * Loads every model and version of a file-system model repository:
 *
 * ```
 * models/<name>/model.json            {"defaultVersion": "1"}   (optional: else the highest version)
 * models/<name>/<version>/manifest.json
 * models/<name>/<version>/model.onnx
 * ```
 *
 * Every version is loaded and warmed. The server does not load the folder itself: it imports it into the
 * registry (`server/src/registry/seed-registry.ts`). Tests use this to load what the trainer and the
 * converters write the way a server would serve it.
 *
 * @throws ModelLoadError when the folder is empty or any version fails to load; the message names the path.
 */
export async function loadFileModelRepository(dir: string): Promise<ServedModel[]> {
  const names = await listDirectories(dir).catch((error: unknown) => {
    throw new ModelLoadError(`cannot read the model repository ${path.resolve(dir)}: ${String(error)}`);
  });
  if (names.length === 0) throw new ModelLoadError(`the model repository ${path.resolve(dir)} has no models`);
  return Promise.all(names.map((name) => loadFileModel(path.join(dir, name), name)));
}

/**
 * Loads and warms every version of one model folder (`<repository>/<name>`), with its `model.json`.
 *
 * @throws ModelLoadError when the folder has no versions or any version fails to load.
 */
export async function loadFileModel(modelDir: string, name: string): Promise<ServedModel> {
  const versionNames = (await listDirectories(modelDir)).sort(compareVersions);
  if (versionNames.length === 0) throw new ModelLoadError(`${modelDir} has no version folders`);
  const versions = new Map<string, OnnxModel>();
  for (const version of versionNames) {
    const model = await OnnxModel.load(path.join(modelDir, version));
    if (model.name !== name || model.version !== version) {
      throw new ModelLoadError(
        `${path.join(modelDir, version)}: manifest says ${model.name}@${model.version}, folder says ${name}@${version}`,
      );
    }
    versions.set(version, model);
  }
  const defaultVersion = (await readSettings(modelDir))?.defaultVersion ?? versionNames.at(-1)!;
  if (!versions.has(defaultVersion)) {
    throw new ModelLoadError(`${modelDir}/model.json: default version ${defaultVersion} does not exist`);
  }
  return { name, defaultVersion, versions };
}

async function readSettings(modelDir: string): Promise<z.infer<typeof modelSettingsSchema> | undefined> {
  const file = path.join(modelDir, 'model.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelLoadError(`${file} is not valid JSON: ${String(error)}`);
  }
  const parsed = modelSettingsSchema.safeParse(json);
  if (!parsed.success) throw new ModelLoadError(`${file}: ${parsed.error.message}`);
  return parsed.data;
}

/** Names of the sub-folders of `dir`. */
async function listDirectories(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name);
}

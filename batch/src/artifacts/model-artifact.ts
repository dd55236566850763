import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseModelManifest, type ModelManifestInput } from '../../../server/src/inference/model-manifest.js';

/** File name of the ONNX model next to its manifest. */
export const MODEL_FILE = 'model.onnx';
/** File name of the manifest. */
export const MANIFEST_FILE = 'manifest.json';

/** A model ready to publish: its manifest (validated) and its ONNX bytes. */
export interface ModelArtifact {
  readonly manifest: ModelManifestInput;
  readonly onnx: Uint8Array;
}

/**
 * Completes a manifest with the ONNX file name and SHA-256 and validates it (`parseModelManifest`).
 *
 * @throws InvalidManifestError naming the offending fields when the manifest does not conform.
 */
export function createModelArtifact(
  manifest: Omit<ModelManifestInput, 'onnx'>,
  onnx: Uint8Array,
): ModelArtifact {
  const complete: ModelManifestInput = {
    ...manifest,
    onnx: { file: MODEL_FILE, sha256: createHash('sha256').update(onnx).digest('hex') },
  };
  parseModelManifest(complete, `the manifest of ${manifest.name}`);
  return { manifest: complete, onnx };
}

/** The manifest as written to disk: pretty-printed JSON (2 spaces), keys in insertion order, trailing newline. */
export function serializeManifest(manifest: ModelManifestInput): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/**
 * Writes `<rootDir>/<name>/<version>/model.onnx` and then `manifest.json` (creating folders, overwriting files).
 *
 * @returns The two file paths, ONNX first.
 */
export async function writeModelArtifact(
  rootDir: string,
  artifact: ModelArtifact,
): Promise<[string, string]> {
  const dir = path.join(rootDir, artifact.manifest.name, artifact.manifest.version);
  await mkdir(dir, { recursive: true });
  const onnxPath = path.join(dir, MODEL_FILE);
  const manifestPath = path.join(dir, MANIFEST_FILE);
  // The manifest goes last: it names the ONNX file's hash, so a reader never sees it ahead of its model.
  await writeFile(onnxPath, artifact.onnx);
  await writeFile(manifestPath, serializeManifest(artifact.manifest));
  return [onnxPath, manifestPath];
}

import { readFile } from 'node:fs/promises';
import ort from 'onnxruntime-node';
import { InvalidManifestError, parseModelManifest, type ModelManifest } from './model-manifest.js';

/**
 * Loading a model version: its manifest, its ONNX Runtime session, and the checks that the graph is what
 * the manifest says (`OnnxModel.load` / `fromArtifact`). Every failure is a {@link ModelLoadError} saying
 * which file and why.
 */

/** Thrown when a model version cannot be loaded; the message says which file and why. */
export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
}

export async function createSession(bytes: Uint8Array, source: string): Promise<ort.InferenceSession> {
  // ONNX Runtime 1.30 on Linux collects usage telemetry for upload over HTTPS and, where it cannot write its
  // device id (the image's read-only root), prints a coloured non-JSON warning into the JSON log stream
  // (test/cluster/release-lifecycle.test.ts reads the pods' logs). A server opts out unless the operator set it.
  // Read when the runtime's environment is created, i.e. with the first session.
  process.env.ORT_DISABLE_TELEMETRY ??= '1';
  try {
    return await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
  } catch (error) {
    throw new ModelLoadError(`${source}: ONNX Runtime cannot load it: ${String(error)}`);
  }
}

export function isTensorOutput(session: ort.InferenceSession, name: string): boolean {
  return session.outputMetadata.find((value) => value.name === name)?.isTensor === true;
}

/** The graph has the input and outputs the manifest names. */
export function checkNames(manifest: ModelManifest, session: ort.InferenceSession, source: string): void {
  const { input, outputs } = manifest;
  if (!session.inputNames.includes(input.name)) {
    throw new ModelLoadError(
      `${source}: the graph has no input "${input.name}" (inputs: ${session.inputNames.join(', ')})`,
    );
  }
  for (const name of [outputs.score.name, outputs.contributions?.name]) {
    if (name !== undefined && !session.outputNames.includes(name)) {
      throw new ModelLoadError(
        `${source}: the graph has no output "${name}" (outputs: ${session.outputNames.join(', ')})`,
      );
    }
  }
}

/** The score and contributions outputs are tensors, and the score column exists when the width is known. */
export function checkTensors(
  manifest: ModelManifest,
  session: ort.InferenceSession,
  scoreColumn: number,
  source: string,
): void {
  const { score, contributions } = manifest.outputs;
  if (contributions !== undefined && !isTensorOutput(session, contributions.name)) {
    throw new ModelLoadError(`${source}: output "${contributions.name}" (contributions) is not a tensor`);
  }
  const scoreMetadata = session.outputMetadata.find((value) => value.name === score.name);
  const width = scoreMetadata?.isTensor ? scoreMetadata.shape[1] : undefined;
  if (typeof width === 'number' && scoreColumn >= width) {
    throw new ModelLoadError(
      `${source}: output "${score.name}" has ${width} columns; column ${scoreColumn} does not exist`,
    );
  }
}

export async function readManifest(manifestPath: string): Promise<ModelManifest> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(manifestPath, 'utf8'));
  } catch (error) {
    throw new ModelLoadError(`cannot read ${manifestPath}: ${String(error)}`);
  }
  return parseManifest(raw, manifestPath);
}

/** {@link parseModelManifest}, as a ModelLoadError. @throws ModelLoadError listing every problem, prefixed with `what`. */
export function parseManifest(raw: unknown, what: string): ModelManifest {
  try {
    return parseModelManifest(raw, what);
  } catch (error) {
    if (error instanceof InvalidManifestError) throw new ModelLoadError(error.message, { cause: error });
    throw error;
  }
}

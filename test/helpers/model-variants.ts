import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { trainModels } from '../../batch/src/train-models.js';

/** A model version ready to register: its ONNX bytes and manifest JSON. */
export interface ModelVariant {
  readonly onnx: Buffer;
  readonly manifestJson: string;
}

/**
 * Trains a real, different version of `model` (another synthetic population, so its scores differ
 * from the bundled version) and labels it `version`.
 */
export async function trainVariant(
  model: 'churn' | 'clv',
  version: string,
  seed: number,
): Promise<ModelVariant> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ci-variant-'));
  try {
    await trainModels({ outDir: dir, seed, customers: 6_000 });
    const onnx = await readFile(path.join(dir, model, '1', 'model.onnx'));
    const manifest = JSON.parse(await readFile(path.join(dir, model, '1', 'manifest.json'), 'utf8')) as {
      version: string;
    };
    manifest.version = version;
    return { onnx, manifestJson: JSON.stringify(manifest) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A version whose ONNX bytes are not a model, with a manifest whose checksum matches them. */
export async function corruptVariant(model: 'churn' | 'clv', version: string): Promise<ModelVariant> {
  const good = await trainVariant(model, version, 7);
  const onnx = Buffer.from('this is not an ONNX model');
  const manifest = JSON.parse(good.manifestJson) as { onnx: { sha256: string } };
  manifest.onnx.sha256 = createHash('sha256').update(onnx).digest('hex');
  return { onnx, manifestJson: JSON.stringify(manifest) };
}

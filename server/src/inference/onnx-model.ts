import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { modelManifestSchema, type ModelManifest } from './model-manifest.js';

/** What one inference over a batch of rows returns. */
export interface Predictions {
  /** One score per row. */
  readonly scores: Float32Array;
  /** Row-major [rows × features] contributions, when the model exports them. */
  readonly contributions: Float32Array | undefined;
}

/** Thrown when a model version cannot be loaded; the message says which file and why. */
export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
}

/**
 * One loaded, warmed model version: an ONNX Runtime session plus its manifest.
 *
 * Sessions run with one intra-op and one inter-op thread: the models are tiny, the server scales by
 * processes, and ORT's default thread pools would fight the event loop for the pod's cores.
 */
export class OnnxModel {
  private constructor(
    readonly manifest: ModelManifest,
    private readonly session: ort.InferenceSession,
  ) {}

  /** Model name, e.g. `churn`. */
  get name(): string {
    return this.manifest.name;
  }

  /** Model version, e.g. `1`. */
  get version(): string {
    return this.manifest.version;
  }

  /** Feature names in input-tensor column order. */
  get featureNames(): readonly string[] {
    return this.manifest.features.map((feature) => feature.name);
  }

  /**
   * Loads `manifest.json` and the ONNX file from a version folder, verifies the file's SHA-256 and that
   * the graph has the inputs and outputs the manifest names, then warms the session on the manifest's
   * warm-up rows (the first real call must not pay for lazy initialisation).
   *
   * @throws ModelLoadError when the manifest is invalid, the checksum differs, the graph does not match
   *   or the warm-up produces non-finite scores.
   */
  static async load(versionDir: string): Promise<OnnxModel> {
    const manifestPath = path.join(versionDir, 'manifest.json');
    const manifest = await readManifest(manifestPath);
    const onnxPath = path.join(versionDir, manifest.onnx.file);
    const bytes = await readFile(onnxPath).catch((error: unknown) => {
      throw new ModelLoadError(`cannot read ${onnxPath}: ${String(error)}`);
    });
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (sha256 !== manifest.onnx.sha256) {
      throw new ModelLoadError(
        `${onnxPath}: SHA-256 ${sha256} does not match the manifest's ${manifest.onnx.sha256}`,
      );
    }
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      });
    } catch (error) {
      throw new ModelLoadError(`${onnxPath}: ONNX Runtime cannot load it: ${String(error)}`);
    }
    const model = new OnnxModel(manifest, session);
    model.checkSignature(onnxPath);
    await model.warm();
    return model;
  }

  /**
   * Runs the model on `rows` feature rows laid out row-major in `input` (`rows × features`).
   */
  async predict(input: Float32Array, rows: number): Promise<Predictions> {
    const { input: inputSpec, outputs } = this.manifest;
    const tensor = new ort.Tensor('float32', input.subarray(0, rows * this.manifest.features.length), [
      rows,
      this.manifest.features.length,
    ]);
    const results = await this.session.run({ [inputSpec.name]: tensor });
    const scoreTensor = results[outputs.score.name];
    if (scoreTensor === undefined) throw new Error(`output ${outputs.score.name} missing`);
    const width = scoreTensor.dims.length > 1 ? (scoreTensor.dims[1] ?? 1) : 1;
    const scoreData = scoreTensor.data as Float32Array;
    const scores =
      width === 1
        ? scoreData
        : Float32Array.from({ length: rows }, (_, i) => scoreData[i * width + outputs.score.column] ?? NaN);
    const contributions = outputs.contributions
      ? (results[outputs.contributions.name]?.data as Float32Array | undefined)
      : undefined;
    return { scores, contributions };
  }

  /** Releases the session's native memory. Safe to call more than once. */
  async close(): Promise<void> {
    await this.session.release().catch(() => undefined);
  }

  private checkSignature(onnxPath: string): void {
    const { input, outputs } = this.manifest;
    if (!this.session.inputNames.includes(input.name)) {
      throw new ModelLoadError(
        `${onnxPath}: the graph has no input "${input.name}" (inputs: ${this.session.inputNames.join(', ')})`,
      );
    }
    for (const name of [outputs.score.name, outputs.contributions?.name]) {
      if (name !== undefined && !this.session.outputNames.includes(name)) {
        throw new ModelLoadError(
          `${onnxPath}: the graph has no output "${name}" (outputs: ${this.session.outputNames.join(', ')})`,
        );
      }
    }
  }

  private async warm(): Promise<void> {
    const rows = this.manifest.warmupRows;
    const input = Float32Array.from(rows.flat());
    // A few passes at batch 1 and at the full warm-up batch: ORT allocates per shape on first use.
    for (let pass = 0; pass < 5; pass++) {
      await this.predict(input, 1);
      const { scores } = await this.predict(input, rows.length);
      if (!scores.every(Number.isFinite)) {
        throw new ModelLoadError(`${this.name}@${this.version}: warm-up produced non-finite scores`);
      }
    }
  }
}

async function readManifest(manifestPath: string): Promise<ModelManifest> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(manifestPath, 'utf8'));
  } catch (error) {
    throw new ModelLoadError(`cannot read ${manifestPath}: ${String(error)}`);
  }
  const parsed = modelManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ModelLoadError(`${manifestPath} is not a valid manifest: ${problems.join('; ')}`);
  }
  return parsed.data;
}

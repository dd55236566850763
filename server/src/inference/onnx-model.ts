import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { errors } from '../errors.js';
import {
  checkNames,
  checkTensors,
  createSession,
  isTensorOutput,
  ModelLoadError,
  parseManifest,
  readManifest,
} from './model-load.js';
import type { ModelManifest } from './model-manifest.js';
import { unzipMapOutput } from './zipmap-output.js';

export { ModelLoadError } from './model-load.js';

/** What one inference over a batch of rows returns. */
export interface Predictions {
  /** One score per row. */
  readonly scores: Float32Array;
  /** Row-major [rows × features] contributions, when the model exports them. */
  readonly contributions: Float32Array | undefined;
}

/** A tensor input or output of the graph, as ONNX Runtime describes it. */
export interface TensorSignature {
  readonly name: string;
  /** ONNX Runtime element type: `float32`, `int64`, `string`, ... */
  readonly type: ort.Tensor.Type;
  /** Dimensions; a string (the symbolic name, possibly empty) marks a variable one. */
  readonly shape: ReadonlyArray<number | string>;
}

/** A float32 tensor to feed: row-major data and its dimensions. */
export interface Float32Feed {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/** An output tensor of {@link OnnxModel.run}. */
export interface OutputTensor {
  readonly type: ort.Tensor.Type;
  readonly dims: readonly number[];
  /** Row-major elements: a typed array (BigInt64Array for int64), or strings for `string`. */
  readonly data: ort.Tensor.DataType;
}

/**
 * One loaded, warmed model version: an ONNX Runtime session plus its manifest.
 *
 * Sessions run with one intra-op and one inter-op thread: the models are tiny, the server scales by
 * processes, and ORT's default thread pools would fight the event loop for the pod's cores.
 */
export class OnnxModel {
  /** Runs started and not finished; {@link close} waits for them. */
  private running = 0;
  private idle: (() => void) | undefined;
  private closing: Promise<void> | undefined;

  /** Feature names in input-tensor column order. */
  readonly featureNames: readonly string[];
  /** Each feature's input-tensor column, by name. */
  readonly featureColumns: ReadonlyMap<string, number>;

  private constructor(
    readonly manifest: ModelManifest,
    private readonly session: ort.InferenceSession,
    /** Column of the score output holding the score (0 for a [batch] or [batch, 1] output). */
    readonly scoreColumn: number,
  ) {
    // Read per scored row: computed once, not per access.
    this.featureNames = manifest.features.map((feature) => feature.name);
    this.featureColumns = new Map(this.featureNames.map((name, column) => [name, column]));
  }

  /** Model name, e.g. `churn`. */
  get name(): string {
    return this.manifest.name;
  }

  /** Model version, e.g. `1`. */
  get version(): string {
    return this.manifest.version;
  }

  /**
   * The graph's tensor outputs, in graph order (what {@link run} can return). A ZipMap output the manifest
   * names is listed as the float tensor it was unwrapped to (see `zipmap-output.ts`); other non-tensor
   * outputs are left out, since ONNX Runtime for Node cannot return them.
   */
  get tensorOutputs(): readonly TensorSignature[] {
    return this.session.outputMetadata.flatMap((value) =>
      value.isTensor ? [{ name: value.name, type: value.type, shape: value.shape }] : [],
    );
  }

  /**
   * Loads `manifest.json` and the ONNX file from a version folder, then {@link fromArtifact}.
   *
   * @throws ModelLoadError when a file cannot be read or {@link fromArtifact} refuses the model.
   */
  static async load(versionDir: string): Promise<OnnxModel> {
    const manifestPath = path.join(versionDir, 'manifest.json');
    const manifest = await readManifest(manifestPath);
    const onnxPath = path.join(versionDir, manifest.onnx.file);
    const bytes = await readFile(onnxPath).catch((error: unknown) => {
      throw new ModelLoadError(`cannot read ${onnxPath}: ${String(error)}`);
    });
    return OnnxModel.fromArtifact(manifest, bytes, onnxPath);
  }

  /**
   * Creates a session from a manifest and the ONNX bytes: validates the manifest (it may come straight
   * from JSON, e.g. a registry row), verifies the bytes' SHA-256 and that the graph
   * has the input and outputs the manifest names (unwrapping a ZipMap score output, see
   * `zipmap-output.ts`), then warms the session on the manifest's warm-up rows (the first real call must
   * not pay for lazy initialisation).
   *
   * @param source Where the bytes came from (a path, `registry churn@3`), for error messages.
   * @throws ModelLoadError when the manifest is invalid, the checksum differs, ONNX Runtime refuses the
   *   bytes, the graph does not match the manifest or the warm-up produces non-finite scores.
   */
  static async fromArtifact(manifestJson: unknown, onnx: Uint8Array, source: string): Promise<OnnxModel> {
    const manifest = parseManifest(manifestJson, `the manifest of ${source}`);
    const sha256 = createHash('sha256').update(onnx).digest('hex');
    if (sha256 !== manifest.onnx.sha256) {
      throw new ModelLoadError(
        `${source}: SHA-256 ${sha256} does not match the manifest's ${manifest.onnx.sha256}`,
      );
    }
    let session = await createSession(onnx, source);
    try {
      checkNames(manifest, session, source);
      const score = manifest.outputs.score;
      let scoreColumn = score.column ?? 0;
      if (!isTensorOutput(session, score.name)) {
        if (score.key === undefined) {
          throw new ModelLoadError(
            `${source}: output "${score.name}" is not a tensor (a ZipMap's sequence of maps?); name the class ` +
              `whose probability is the score with outputs.score.key, or export with zipmap=False and use column`,
          );
        }
        let unzipped;
        try {
          unzipped = unzipMapOutput(onnx, score.name);
        } catch (error) {
          throw new ModelLoadError(
            `${source}: ${(error as Error).message}. Export classifiers with zipmap=False ` +
              `(skl2onnx: options={id(model): {"zipmap": False}}) and name the probability tensor with a column`,
          );
        }
        const key = score.key;
        scoreColumn = unzipped.classLabels.findIndex((label) => String(label) === String(key));
        if (scoreColumn < 0) {
          throw new ModelLoadError(
            `${source}: outputs.score.key ${JSON.stringify(key)} is not a class of "${score.name}" ` +
              `(classes: ${unzipped.classLabels.join(', ')})`,
          );
        }
        await session.release();
        session = await createSession(unzipped.bytes, source);
      } else if (score.key !== undefined) {
        throw new ModelLoadError(
          `${source}: output "${score.name}" is a tensor; outputs.score.key is for ZipMap outputs, use column`,
        );
      }
      checkTensors(manifest, session, scoreColumn, source);
      const model = new OnnxModel(manifest, session, scoreColumn);
      await model.warm();
      return model;
    } catch (error) {
      await session.release().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Runs the model on `rows` feature rows laid out row-major in `input` (`rows × features`).
   *
   * @throws AppError UNAVAILABLE (`ERR_MODEL_RETIRED`) when the model was closed before the run started.
   */
  async predict(input: Float32Array, rows: number): Promise<Predictions> {
    const { input: inputSpec, outputs } = this.manifest;
    const width = this.manifest.features.length;
    const tensor = new ort.Tensor('float32', input.subarray(0, rows * width), [rows, width]);
    const fetches = [outputs.score.name, ...(outputs.contributions ? [outputs.contributions.name] : [])];
    const results = await this.runSession({ [inputSpec.name]: tensor }, fetches);
    const scoreTensor = results[outputs.score.name];
    if (scoreTensor === undefined) throw new Error(`output ${outputs.score.name} missing`);
    const scoreWidth = scoreTensor.dims.length > 1 ? (scoreTensor.dims[1] ?? 1) : 1;
    const scoreData = scoreTensor.data as Float32Array;
    const scores =
      scoreWidth === 1
        ? scoreData
        : Float32Array.from({ length: rows }, (_, i) => scoreData[i * scoreWidth + this.scoreColumn] ?? NaN);
    const contributions = outputs.contributions
      ? (results[outputs.contributions.name]?.data as Float32Array | undefined)
      : undefined;
    return { scores, contributions };
  }

  /**
   * Runs the graph on named float32 tensors as given (no feature handling) and returns the named outputs
   * as ONNX Runtime produced them: the path of the Open Inference Protocol, whose clients send tensors.
   *
   * @param outputNames Tensor outputs to compute (see {@link tensorOutputs}).
   * @throws AppError UNAVAILABLE (`ERR_MODEL_RETIRED`) when the model was closed before the run started;
   *   ONNX Runtime's error when it rejects the feeds.
   */
  async run(
    feeds: Readonly<Record<string, Float32Feed>>,
    outputNames: readonly string[],
  ): Promise<Record<string, OutputTensor>> {
    const tensors: Record<string, ort.Tensor> = {};
    for (const [name, feed] of Object.entries(feeds)) {
      tensors[name] = new ort.Tensor('float32', feed.data, feed.dims);
    }
    const results = await this.runSession(tensors, outputNames);
    const outputs: Record<string, OutputTensor> = {};
    for (const name of outputNames) {
      const tensor = results[name];
      if (tensor === undefined) throw new Error(`output ${name} missing`);
      outputs[name] = { type: tensor.type, dims: tensor.dims, data: tensor.data };
    }
    return outputs;
  }

  /**
   * Releases the session's native memory once the runs already started have finished; runs asked for
   * afterwards fail with UNAVAILABLE (`ERR_MODEL_RETIRED`), which clients retry against the catalog's
   * current model. Safe to call more than once.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.running > 0) await new Promise<void>((resolve) => (this.idle = resolve));
      await this.session.release().catch(() => undefined);
    })();
    return this.closing;
  }

  /** Every session run goes through here, so that {@link close} never releases a session mid-run. */
  private async runSession(
    feeds: ort.InferenceSession.FeedsType,
    fetches: readonly string[],
  ): Promise<ort.InferenceSession.ReturnType> {
    if (this.closing !== undefined) throw errors.modelRetired(this.name, this.version);
    this.running++;
    try {
      return await this.session.run(feeds, fetches);
    } finally {
      this.running--;
      if (this.running === 0) this.idle?.();
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

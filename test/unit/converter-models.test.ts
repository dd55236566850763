import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { onnx } from '../../batch/src/onnx/onnx-proto.js';
import type { ModelManifestInput } from '../../server/src/inference/model-manifest.js';
import { ModelLoadError, type OnnxModel } from '../../server/src/inference/onnx-model.js';
import { loadFileModelRepository } from '../helpers/file-model-repository.js';

// Models shaped like what skl2onnx exports for a binary LogisticRegression: an `ai.onnx.ml`
// LinearClassifier giving `label` (int64 [N]) and the class probabilities (float [N, 2]), optionally
// followed by the ZipMap that turns the probabilities into one {class: probability} map per row.
const WEIGHTS = [0.8, -1.5, 0.25];
const INTERCEPT = -0.3;
const ROWS = [
  [1, 0.5, 2],
  [0, 2, -1],
  [3, -1, 0.5],
];

/** P(class 1) of a row, computed by hand in float64. */
function expectedProbability(row: readonly number[]): number {
  const eta = row.reduce((sum, x, i) => sum + x * WEIGHTS[i]!, INTERCEPT);
  return 1 / (1 + Math.exp(-eta));
}

type Labels = { ints: number[] } | { strings: string[] };

function classifierOnnx(options: { zipMap: boolean; labels?: Labels }): Uint8Array {
  const { FLOAT, INT64, STRING } = onnx.TensorProto.DataType;
  const { FLOATS, INTS, STRING: STRING_ATTRIBUTE, STRINGS } = onnx.AttributeProto.AttributeType;
  const labels = options.labels ?? { ints: [0, 1] };
  // LinearClassifier calls its integer classes `classlabels_ints`, ZipMap `classlabels_int64s`.
  const labelAttribute = (intsName: string): onnx.IAttributeProto =>
    'ints' in labels
      ? { name: intsName, type: INTS, ints: labels.ints }
      : { name: 'classlabels_strings', type: STRINGS, strings: labels.strings.map((s) => Buffer.from(s)) };
  const probabilities = options.zipMap ? 'probability_tensor' : 'probabilities';
  const nodes: onnx.INodeProto[] = [
    {
      name: 'classifier',
      opType: 'LinearClassifier',
      domain: 'ai.onnx.ml',
      input: ['features'],
      output: ['label', probabilities],
      attribute: [
        // One coefficient row per class: class 0 gets −w, class 1 gets w (as skl2onnx writes it).
        { name: 'coefficients', type: FLOATS, floats: [...WEIGHTS.map((w) => -w), ...WEIGHTS] },
        { name: 'intercepts', type: FLOATS, floats: [-INTERCEPT, INTERCEPT] },
        { name: 'post_transform', type: STRING_ATTRIBUTE, s: Buffer.from('LOGISTIC') },
        labelAttribute('classlabels_ints'),
      ],
    },
  ];
  const labelType = 'ints' in labels ? INT64 : STRING;
  const outputs: onnx.IValueInfoProto[] = [
    { name: 'label', type: { tensorType: { elemType: labelType, shape: { dim: [{ dimParam: 'N' }] } } } },
  ];
  if (options.zipMap) {
    nodes.push({
      name: 'zipmap',
      opType: 'ZipMap',
      domain: 'ai.onnx.ml',
      input: [probabilities],
      output: ['output_probability'],
      attribute: [labelAttribute('classlabels_int64s')],
    });
    outputs.push({
      name: 'output_probability',
      type: {
        sequenceType: {
          elemType: {
            mapType: { keyType: labelType, valueType: { tensorType: { elemType: FLOAT } } },
          },
        },
      },
    });
  } else {
    outputs.push({
      name: 'probabilities',
      type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'N' }, { dimValue: 2 }] } } },
    });
  }
  const model: onnx.IModelProto = {
    irVersion: 8,
    producerName: 'skl2onnx-like test fixture',
    opsetImport: [
      { domain: '', version: 13 },
      { domain: 'ai.onnx.ml', version: 1 },
    ],
    graph: {
      name: 'logistic_regression',
      node: nodes,
      input: [
        {
          name: 'features',
          type: {
            tensorType: {
              elemType: FLOAT,
              shape: { dim: [{ dimParam: 'N' }, { dimValue: WEIGHTS.length }] },
            },
          },
        },
      ],
      output: outputs,
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

function manifestFor(bytes: Uint8Array, score: ModelManifestInput['outputs']['score']): ModelManifestInput {
  return {
    schemaVersion: 1,
    name: 'converted',
    version: '1',
    task: 'binary-classification',
    scoreDescription: 'P(class 1) of an skl2onnx-style classifier.',
    features: ['a', 'b', 'c'].map((name) => ({ name, description: name, unit: 'none', mean: 0 })),
    input: { name: 'features', datatype: 'FP32' },
    outputs: { score },
    metrics: {},
    training: { snapshotId: 'test', trainRows: 0, holdoutRows: 0 },
    onnx: { file: 'model.onnx', sha256: createHash('sha256').update(bytes).digest('hex') },
    warmupRows: ROWS,
  };
}

let dir: string;
const loaded: OnnxModel[] = [];
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-converted-'));
});
afterEach(async () => {
  await Promise.all(loaded.splice(0).map((model) => model.close()));
  await rm(dir, { recursive: true, force: true });
});

/** Writes `models/converted/1/{model.onnx,manifest.json}` and loads the repository the normal way. */
async function loadConverted(bytes: Uint8Array, manifest: ModelManifestInput): Promise<OnnxModel> {
  const versionDir = path.join(dir, 'converted', '1');
  await mkdir(versionDir, { recursive: true });
  await writeFile(path.join(versionDir, 'model.onnx'), bytes);
  await writeFile(path.join(versionDir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  const [model] = await loadFileModelRepository(dir);
  const version = model!.versions.get('1')!;
  loaded.push(version);
  return version;
}

async function scoresOf(model: OnnxModel): Promise<number[]> {
  const { scores } = await model.predict(Float32Array.from(ROWS.flat()), ROWS.length);
  return [...scores];
}

function expectScoresToMatchHand(scores: number[]): void {
  expect(scores).toHaveLength(ROWS.length);
  ROWS.forEach((row, i) => expect(Math.abs(scores[i]! - expectedProbability(row))).toBeLessThan(1e-6));
}

describe('converter-made classifiers (skl2onnx shape)', () => {
  it('scores with the probability tensor [N, 2] and the column of class 1', async () => {
    const bytes = classifierOnnx({ zipMap: false });
    const model = await loadConverted(bytes, manifestFor(bytes, { name: 'probabilities', column: 1 }));
    expectScoresToMatchHand(await scoresOf(model));
  });

  it('onnxruntime-node cannot return a ZipMap output (why the loader unwraps it)', async () => {
    const session = await ort.InferenceSession.create(classifierOnnx({ zipMap: true }));
    try {
      expect(session.outputMetadata.find((o) => o.name === 'output_probability')?.isTensor).toBe(false);
      const features = new ort.Tensor('float32', Float32Array.from(ROWS.flat()), [ROWS.length, 3]);
      await expect(session.run({ features })).rejects.toThrow('Non tensor type is temporarily not supported');
    } finally {
      await session.release();
    }
  });

  it('scores a ZipMap output (sequence of maps) by the class key, via the unwrapped tensor', async () => {
    const bytes = classifierOnnx({ zipMap: true });
    const model = await loadConverted(bytes, manifestFor(bytes, { name: 'output_probability', key: 1 }));
    expectScoresToMatchHand(await scoresOf(model));
    expect(model.tensorOutputs.map(({ name, type }) => `${name}:${type}`)).toEqual([
      'label:int64',
      'output_probability:float32',
    ]);
    expect(model.tensorOutputs[1]!.shape[1]).toBe(2);
  });

  it('scores a ZipMap with string classes by a string key', async () => {
    const bytes = classifierOnnx({ zipMap: true, labels: { strings: ['stays', 'churns'] } });
    const model = await loadConverted(
      bytes,
      manifestFor(bytes, { name: 'output_probability', key: 'churns' }),
    );
    expectScoresToMatchHand(await scoresOf(model));
  });

  it.each([
    [
      'a ZipMap output without a key',
      () => {
        const bytes = classifierOnnx({ zipMap: true });
        return [bytes, manifestFor(bytes, { name: 'output_probability' })] as const;
      },
      /output "output_probability" is not a tensor .* outputs\.score\.key/,
    ],
    [
      'a key that is not one of the classes',
      () => {
        const bytes = classifierOnnx({ zipMap: true });
        return [bytes, manifestFor(bytes, { name: 'output_probability', key: 7 })] as const;
      },
      /outputs\.score\.key 7 is not a class of "output_probability" \(classes: 0, 1\)/,
    ],
    [
      'a key on a tensor output',
      () => {
        const bytes = classifierOnnx({ zipMap: false });
        return [bytes, manifestFor(bytes, { name: 'probabilities', key: 1 })] as const;
      },
      /"probabilities" is a tensor; outputs\.score\.key is for ZipMap outputs, use column/,
    ],
    [
      'a column beyond the tensor',
      () => {
        const bytes = classifierOnnx({ zipMap: false });
        return [bytes, manifestFor(bytes, { name: 'probabilities', column: 2 })] as const;
      },
      /"probabilities" has 2 columns; column 2 does not exist/,
    ],
    [
      'both column and key',
      () => {
        const bytes = classifierOnnx({ zipMap: false });
        return [bytes, manifestFor(bytes, { name: 'probabilities', column: 1, key: 1 })] as const;
      },
      /not a valid manifest: outputs\.score: set column .* or key .*, not both/,
    ],
  ])('refuses %s at load time with a ModelLoadError', async (_, make, message) => {
    const [bytes, manifest] = make();
    const error = await loadConverted(bytes, manifest).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toMatch(message);
  });
});

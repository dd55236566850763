import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { onnx } from '../../batch/src/onnx/onnx-proto.js';
import {
  encodeModel,
  floatInitializer,
  floatValueInfo,
  int64Initializer,
  node,
} from '../../batch/src/onnx/graph-builder.js';

// Hostile ONNX models, written with onnx-proto as batch/src/onnx/ writes the real ones: each has the bundled
// churn model's input and manifest, loads as a valid graph, and is a poison pill — a Loop that never ends,
// a ConstantOfShape that allocates a GiB, or a weight read from a file of the server (external data).

/** A version to register: ONNX bytes and a manifest that matches them. */
export interface PoisonModel {
  readonly onnx: Uint8Array;
  readonly manifestJson: string;
  readonly manifest: Record<string, unknown>;
}

const FEATURES = 11;
const { DataType, DataLocation } = onnx.TensorProto;

/** `score = Sigmoid(ReduceMean(x, axis 1))`: [batch, 11] → [batch, 1]. */
function scoreOf(x: string): onnx.INodeProto[] {
  return [
    {
      ...node('ReduceMean', [x], ['mean']),
      attribute: [{ name: 'axes', type: onnx.AttributeProto.AttributeType.INTS, ints: [1] }],
    },
    node('Sigmoid', ['mean'], ['score']),
  ];
}

/** A `churn@<version>` model whose graph is `nodes` between the features input and the score output. */
async function poison(
  version: string,
  graph: Pick<onnx.IGraphProto, 'node' | 'initializer'>,
): Promise<PoisonModel> {
  const bytes = encodeModel(
    {
      name: `poison_${version}`,
      input: [floatValueInfo('features', ['batch', FEATURES])],
      output: [floatValueInfo('score', ['batch', 1])],
      ...graph,
    },
    { docString: `poison model ${version}` },
  );
  const base = path.resolve(import.meta.dirname, '../../models/churn/1/manifest.json');
  const manifest = JSON.parse(await readFile(base, 'utf8')) as Record<string, unknown>;
  manifest.version = version;
  manifest.outputs = { score: { name: 'score', column: 0 } };
  manifest.onnx = { file: 'model.onnx', sha256: createHash('sha256').update(bytes).digest('hex') };
  return { onnx: bytes, manifest, manifestJson: JSON.stringify(manifest) };
}

/** A Loop of 10^15 iterations before the score: session creation is fine, the warm-up never ends. */
export function loopModel(version: string): Promise<PoisonModel> {
  const body: onnx.IGraphProto = {
    name: 'forever',
    input: [
      { name: 'i', type: { tensorType: { elemType: DataType.INT64, shape: { dim: [] } } } },
      { name: 'cond_in', type: { tensorType: { elemType: DataType.BOOL, shape: { dim: [] } } } },
      floatValueInfo('v_in', ['batch', FEATURES]),
    ],
    output: [
      { name: 'cond_out', type: { tensorType: { elemType: DataType.BOOL, shape: { dim: [] } } } },
      floatValueInfo('v_out', ['batch', FEATURES]),
    ],
    node: [node('Identity', ['cond_in'], ['cond_out']), node('Identity', ['v_in'], ['v_out'])],
  };
  return poison(version, {
    initializer: [
      { name: 'trips', dims: [], dataType: DataType.INT64, int64Data: [1e15] },
      { name: 'keep_going', dims: [], dataType: DataType.BOOL, int32Data: [1] },
    ],
    node: [
      {
        ...node('Loop', ['trips', 'keep_going', 'features'], ['looped']),
        attribute: [{ name: 'body', type: onnx.AttributeProto.AttributeType.GRAPH, g: body }],
      },
      ...scoreOf('looped'),
    ],
  });
}

/** A ConstantOfShape of 2^28 floats (1 GiB of ones) summed into the score times zero. */
export function constantOfShapeModel(version: string): Promise<PoisonModel> {
  return poison(version, {
    initializer: [int64Initializer('huge_shape', [2 ** 28]), floatInitializer('zero', [], [0])],
    node: [
      {
        ...node('ConstantOfShape', ['huge_shape'], ['huge']),
        attribute: [
          {
            name: 'value',
            type: onnx.AttributeProto.AttributeType.TENSOR,
            t: { dims: [1], dataType: DataType.FLOAT, floatData: [1] },
          },
        ],
      },
      {
        ...node('ReduceSum', ['huge'], ['total']),
        attribute: [{ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 }],
      },
      node('Mul', ['total', 'zero'], ['nothing']),
      node('Add', ['features', 'nothing'], ['shifted']),
      ...scoreOf('shifted'),
    ],
  });
}

/**
 * A model whose weights are "external data" at `location` (ONNX Runtime resolves a relative one against the
 * working directory): `score = Sigmoid(ReduceMean(features × w))` with w read from that file.
 */
export function externalDataModel(version: string, location: string): Promise<PoisonModel> {
  return poison(version, {
    initializer: [
      {
        name: 'w',
        dims: [FEATURES],
        dataType: DataType.FLOAT,
        dataLocation: DataLocation.EXTERNAL,
        externalData: [
          { key: 'location', value: location },
          { key: 'offset', value: '0' },
          { key: 'length', value: String(FEATURES * 4) },
        ],
      },
    ],
    node: [node('Mul', ['features', 'w'], ['weighted']), ...scoreOf('weighted')],
  });
}

import { onnx } from './onnx-proto.js';

/** ONNX IR version written by {@link encodeModel}. */
export const IR_VERSION = 8;
/** Default-domain operator set version written by {@link encodeModel}. */
export const OPSET_VERSION = 13;
/** The domain of ONNX's traditional machine-learning operators (`TreeEnsembleClassifier`, ...). */
export const ML_DOMAIN = 'ai.onnx.ml';
/** `ai.onnx.ml` operator set version a model imports when it uses {@link ML_DOMAIN} operators. */
export const ML_OPSET_VERSION = 3;

/** A dimension of a tensor shape: a fixed size, or a symbolic name such as `batch`. */
export type Dimension = number | string;

/** A float32 initializer (a constant tensor stored in the graph). */
export function floatInitializer(
  name: string,
  dims: readonly number[],
  values: readonly number[],
): onnx.ITensorProto {
  const size = dims.reduce((product, dim) => product * dim, 1);
  if (size !== values.length)
    throw new Error(`initializer ${name}: ${values.length} values for shape [${dims.join(', ')}]`);
  return { name, dims: [...dims], dataType: onnx.TensorProto.DataType.FLOAT, floatData: [...values] };
}

/** An int64 initializer (e.g. the `starts`/`ends`/`axes` of a Slice). */
export function int64Initializer(name: string, values: readonly number[]): onnx.ITensorProto {
  return { name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, int64Data: [...values] };
}

/** A float32 graph input or output of the given shape. */
export function floatValueInfo(name: string, shape: readonly Dimension[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: shape.map((dim) => (typeof dim === 'number' ? { dimValue: dim } : { dimParam: dim })) },
      },
    },
  };
}

/** A default-domain operator node; its name is its first output's name. */
export function node(opType: string, inputs: readonly string[], outputs: readonly string[]): onnx.INodeProto {
  return { name: `${outputs[0] ?? opType}_${opType}`, opType, input: [...inputs], output: [...outputs] };
}

/** A node attribute value: a number is an int, unless listed under `floats` in {@link mlNode}. */
export type AttributeValue = number | string | readonly number[] | readonly string[];

/**
 * An `ai.onnx.ml` operator node. `floatAttributes` names the attributes whose numbers are floats (ONNX
 * types every attribute: `nodes_values` are FLOATS, `nodes_nodeids` INTS); every other number is an int.
 */
export function mlNode(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  attributes: Readonly<Record<string, AttributeValue>>,
  floatAttributes: ReadonlySet<string>,
): onnx.INodeProto {
  const { AttributeType } = onnx.AttributeProto;
  const attribute = Object.entries(attributes).map(([name, value]): onnx.IAttributeProto => {
    const floats = floatAttributes.has(name);
    if (typeof value === 'string')
      return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
    if (typeof value === 'number') {
      return floats
        ? { name, type: AttributeType.FLOAT, f: value }
        : { name, type: AttributeType.INT, i: value };
    }
    if (value.every((item): item is string => typeof item === 'string') && value.length > 0) {
      return {
        name,
        type: AttributeType.STRINGS,
        strings: value.map((item) => new TextEncoder().encode(item)),
      };
    }
    const numbers = value as readonly number[];
    return floats
      ? { name, type: AttributeType.FLOATS, floats: [...numbers] }
      : { name, type: AttributeType.INTS, ints: [...numbers] };
  });
  return { ...node(opType, inputs, outputs), domain: ML_DOMAIN, attribute };
}

/** Options of {@link encodeModel}. */
export interface EncodeModelOptions {
  /** Shown by model viewers; also the graph's doc string. */
  readonly docString: string;
  /** Key/value metadata stored in the model, in this order. */
  readonly metadata?: readonly (readonly [key: string, value: string])[];
  /** Also import {@link ML_DOMAIN} at {@link ML_OPSET_VERSION} (for graphs with {@link mlNode}s). */
  readonly ml?: boolean;
}

/**
 * Serialises a graph as an ONNX model (IR {@link IR_VERSION}, opset {@link OPSET_VERSION}, and
 * `ai.onnx.ml` {@link ML_OPSET_VERSION} when asked).
 *
 * The encoding depends only on the arguments, so the same graph always yields the same bytes.
 */
export function encodeModel(graph: onnx.IGraphProto, options: EncodeModelOptions): Uint8Array {
  const model: onnx.IModelProto = {
    irVersion: IR_VERSION,
    opsetImport: [
      { domain: '', version: OPSET_VERSION },
      ...(options.ml ? [{ domain: ML_DOMAIN, version: ML_OPSET_VERSION }] : []),
    ],
    producerName: 'customer-intelligence-batch',
    modelVersion: 1,
    docString: options.docString,
    graph: { ...graph, docString: options.docString },
    metadataProps: (options.metadata ?? []).map(([key, value]) => ({ key, value })),
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

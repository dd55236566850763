import { onnx } from './onnx-proto.js';

/** ONNX IR version written by {@link encodeModel}. */
export const IR_VERSION = 8;
/** Default-domain operator set version written by {@link encodeModel}. */
export const OPSET_VERSION = 13;

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

/** Options of {@link encodeModel}. */
export interface EncodeModelOptions {
  /** Shown by model viewers; also the graph's doc string. */
  readonly docString: string;
  /** Key/value metadata stored in the model, in this order. */
  readonly metadata?: readonly (readonly [key: string, value: string])[];
}

/**
 * Serialises a graph as an ONNX model (IR {@link IR_VERSION}, opset {@link OPSET_VERSION}).
 *
 * The encoding depends only on the arguments, so the same graph always yields the same bytes.
 */
export function encodeModel(graph: onnx.IGraphProto, options: EncodeModelOptions): Uint8Array {
  const model: onnx.IModelProto = {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET_VERSION }],
    producerName: 'customer-intelligence-batch',
    modelVersion: 1,
    docString: options.docString,
    graph: { ...graph, docString: options.docString },
    metadataProps: (options.metadata ?? []).map(([key, value]) => ({ key, value })),
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

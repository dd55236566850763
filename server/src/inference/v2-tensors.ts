import type ort from 'onnxruntime-node';
import { errors } from '../errors.js';
import type {
  InferTensorContents,
  ModelInferRequest_InferInputTensor,
  ModelInferResponse_InferOutputTensor,
} from '../../../gen/inference/grpc_service.js';
import type { Float32Feed, OutputTensor } from './onnx-model.js';

// Tensors of the Open Inference Protocol (V2) <-> ONNX Runtime tensors. Raw contents are little-endian
// row-major buffers; typed arrays here are in the host's byte order, which is little-endian on every
// platform Node and onnxruntime-node ship for (x64, arm64).

/** V2 datatype names of the ONNX Runtime element types this server can return. */
const V2_DATATYPES: Partial<Record<ort.Tensor.Type, string>> = {
  bool: 'BOOL',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  float32: 'FP32',
  float64: 'FP64',
  string: 'BYTES',
};

/** The V2 datatype of an ONNX Runtime element type, or `undefined` when V2 cannot carry it here. */
export function toV2Datatype(type: ort.Tensor.Type): string | undefined {
  return V2_DATATYPES[type];
}

/** A V2 shape: symbolic (variable) dimensions become -1. */
export function toV2Shape(shape: ReadonlyArray<number | string>): number[] {
  return shape.map((dim) => (typeof dim === 'number' ? dim : -1));
}

/** What an FP32 input must look like. */
export interface Fp32InputSpec {
  /** Dimensions; -1 = any size (the batch, first). */
  readonly shape: readonly number[];
  /** Most rows (first dimension) accepted in one request. */
  readonly maxRows: number;
  /** The limit's configuration variable, for the message. */
  readonly maxRowsSetting: string;
  /** Names of the last dimension's columns (feature names), for messages about a bad value. */
  readonly columnNames?: readonly string[];
}

/**
 * Checks an FP32 input against the model's signature and returns its data, from `raw` (the matching
 * `raw_input_contents` entry) or from `contents.fp32_contents`.
 *
 * @throws AppError INVALID_ARGUMENT naming the input: wrong datatype, shape or element count, data in
 *   both or neither place, or a value that is not finite.
 */
export function decodeFp32Input(
  input: ModelInferRequest_InferInputTensor,
  raw: Buffer | undefined,
  spec: Fp32InputSpec,
): Float32Feed {
  const field = `input "${input.name}"`;
  const expected = `FP32 ${formatShape(spec.shape)}`;
  if (input.datatype !== 'FP32') {
    throw errors.invalidArgument(
      field,
      `datatype ${input.datatype || '(empty)'} is not accepted; the model takes ${expected}`,
    );
  }
  const dims = input.shape;
  const matches =
    dims.length === spec.shape.length &&
    dims.every(
      (dim, i) => Number.isSafeInteger(dim) && (spec.shape[i] === -1 ? dim >= 1 : dim === spec.shape[i]),
    );
  if (!matches) {
    throw errors.invalidArgument(field, `shape ${formatShape(dims)} does not match the model's ${expected}`);
  }
  const rows = dims[0] ?? 1;
  if (rows > spec.maxRows) {
    throw errors.invalidArgument(
      field,
      `shape ${formatShape(dims)}: at most ${spec.maxRows} rows are allowed per request (${spec.maxRowsSetting})`,
    );
  }
  const count = dims.reduce((product, dim) => product * dim, 1);
  const typed = input.contents;
  let data: Float32Array;
  if (raw !== undefined) {
    if (typed !== undefined && contentsLength(typed) > 0) {
      throw errors.invalidArgument(field, 'has both contents and raw_input_contents; send one');
    }
    if (raw.byteLength !== count * 4) {
      throw errors.invalidArgument(
        field,
        `raw_input_contents has ${raw.byteLength} bytes; ${expected} of shape ${formatShape(dims)} takes ${count * 4}`,
      );
    }
    // Copied: a gRPC buffer need not be 4-byte aligned, and ONNX Runtime must not see it change.
    data = new Float32Array(count);
    new Uint8Array(data.buffer).set(raw);
  } else {
    const values = typed?.fp32Contents ?? [];
    if (typed !== undefined && contentsLength(typed) !== values.length) {
      throw errors.invalidArgument(field, 'FP32 data goes in contents.fp32_contents');
    }
    if (values.length !== count) {
      throw errors.invalidArgument(
        field,
        `contents.fp32_contents has ${values.length} values; shape ${formatShape(dims)} takes ${count}`,
      );
    }
    data = Float32Array.from(values);
  }
  const bad = data.findIndex((value) => !Number.isFinite(value));
  if (bad >= 0) {
    const width = dims.at(-1) ?? 1;
    const column = bad % width;
    const name = spec.columnNames?.[column];
    throw errors.invalidArgument(
      field,
      `element ${bad} (row ${Math.floor(bad / width)}, column ${column}${name ? ` ${name}` : ''}) is ${data[bad]}; values must be finite`,
    );
  }
  return { data, dims };
}

/** Response outputs, either all typed (`contents`) or all raw (`raw_output_contents`). */
export interface EncodedOutputs {
  readonly outputs: ModelInferResponse_InferOutputTensor[];
  readonly rawOutputContents: Buffer[];
}

/**
 * Encodes ONNX Runtime outputs as V2 output tensors, in the given order: as `raw_output_contents` (what
 * Triton returns, and what its clients read fastest) or as typed `contents` (readable in grpcurl).
 *
 * @throws Error for an element type V2 cannot carry (the caller only asks for outputs it listed).
 */
export function encodeOutputs(
  tensors: ReadonlyArray<{ readonly name: string; readonly tensor: OutputTensor }>,
  format: 'raw' | 'typed',
): EncodedOutputs {
  const outputs: ModelInferResponse_InferOutputTensor[] = [];
  const rawOutputContents: Buffer[] = [];
  for (const { name, tensor } of tensors) {
    const datatype = toV2Datatype(tensor.type);
    if (datatype === undefined)
      throw new Error(`output ${name}: element type ${tensor.type} has no V2 datatype`);
    const shape = [...tensor.dims];
    if (format === 'raw') {
      rawOutputContents.push(rawBytes(tensor));
      outputs.push({ name, datatype, shape, parameters: {}, contents: undefined });
    } else {
      outputs.push({ name, datatype, shape, parameters: {}, contents: typedContents(tensor) });
    }
  }
  return { outputs, rawOutputContents };
}

/** An empty `InferTensorContents` (the generated code has no factory for partial messages). */
export function emptyContents(): InferTensorContents {
  return {
    boolContents: [],
    intContents: [],
    int64Contents: [],
    uintContents: [],
    uint64Contents: [],
    fp32Contents: [],
    fp64Contents: [],
    bytesContents: [],
  };
}

function typedContents(tensor: OutputTensor): InferTensorContents {
  const contents = emptyContents();
  const { data } = tensor;
  switch (tensor.type) {
    case 'bool':
      contents.boolContents = Array.from(data as Uint8Array, (value) => value !== 0);
      break;
    case 'int8':
    case 'int16':
    case 'int32':
      contents.intContents = Array.from(data as Int32Array);
      break;
    case 'uint8':
    case 'uint16':
    case 'uint32':
      contents.uintContents = Array.from(data as Uint32Array);
      break;
    // The generated code carries 64-bit integers as JavaScript numbers (ts-proto forceLong=number).
    case 'int64':
      contents.int64Contents = Array.from(data as BigInt64Array, Number);
      break;
    case 'uint64':
      contents.uint64Contents = Array.from(data as BigUint64Array, Number);
      break;
    case 'float32':
      contents.fp32Contents = Array.from(data as Float32Array);
      break;
    case 'float64':
      contents.fp64Contents = Array.from(data as Float64Array);
      break;
    case 'string':
      contents.bytesContents = (data as string[]).map((value) => Buffer.from(value, 'utf8'));
      break;
    default:
      throw new Error(`element type ${tensor.type} has no V2 typed contents`);
  }
  return contents;
}

function rawBytes(tensor: OutputTensor): Buffer {
  if (tensor.type === 'string') {
    // V2 raw BYTES: each element is a 4-byte little-endian length followed by the bytes.
    const parts = (tensor.data as string[]).flatMap((value) => {
      const bytes = Buffer.from(value, 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32LE(bytes.byteLength);
      return [length, bytes];
    });
    return Buffer.concat(parts);
  }
  const view = tensor.data as ArrayBufferView;
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

function contentsLength(contents: InferTensorContents): number {
  return (
    contents.boolContents.length +
    contents.intContents.length +
    contents.int64Contents.length +
    contents.uintContents.length +
    contents.uint64Contents.length +
    contents.fp32Contents.length +
    contents.fp64Contents.length +
    contents.bytesContents.length
  );
}

function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

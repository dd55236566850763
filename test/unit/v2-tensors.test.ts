import { describe, expect, it } from 'vitest';
import { AppError } from '../../server/src/errors.js';
import {
  decodeFp32Input,
  encodeOutputs,
  toV2Shape,
  type Fp32InputSpec,
} from '../../server/src/inference/v2-tensors.js';
import { fp32Contents, inputTensor } from '../helpers/v2-client.js';

const spec: Fp32InputSpec = { shape: [-1, 2], maxRows: 3, maxRowsSetting: 'MAX_CUSTOMERS_PER_REQUEST' };

function problem(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof AppError) return `${error.reason}: ${error.message}`;
    throw error;
  }
  return 'no error';
}

describe('V2 input tensors', () => {
  it('reads raw little-endian FP32 from an unaligned buffer', () => {
    const bytes = Buffer.alloc(1 + 16);
    Buffer.from(Float32Array.from([1.5, -2, 3.25, 4]).buffer).copy(bytes, 1);
    const feed = decodeFp32Input(inputTensor('x', 'FP32', [2, 2], undefined), bytes.subarray(1), spec);
    expect([...feed.data]).toEqual([1.5, -2, 3.25, 4]);
    expect(feed.dims).toEqual([2, 2]);
  });

  it('refuses more rows than the limit, naming the setting', () => {
    const input = inputTensor('x', 'FP32', [4, 2], fp32Contents([1, 2, 3, 4, 5, 6, 7, 8]));
    expect(problem(() => decodeFp32Input(input, undefined, spec))).toBe(
      'ERR_INVALID_ARGUMENT: input "x": shape [4, 2]: at most 3 rows are allowed per request (MAX_CUSTOMERS_PER_REQUEST)',
    );
  });

  it('refuses data sent both typed and raw, and FP32 data in another field', () => {
    const both = inputTensor('x', 'FP32', [1, 2], fp32Contents([1, 2]));
    expect(problem(() => decodeFp32Input(both, Buffer.alloc(8), spec))).toBe(
      'ERR_INVALID_ARGUMENT: input "x": has both contents and raw_input_contents; send one',
    );
    const misplaced = inputTensor('x', 'FP32', [1, 2], { ...fp32Contents([]), fp64Contents: [1, 2] });
    expect(problem(() => decodeFp32Input(misplaced, undefined, spec))).toBe(
      'ERR_INVALID_ARGUMENT: input "x": FP32 data goes in contents.fp32_contents',
    );
  });

  it('marks variable dimensions -1', () => {
    expect(toV2Shape(['batch', 11])).toEqual([-1, 11]);
    expect(toV2Shape(['', 2])).toEqual([-1, 2]);
  });
});

describe('V2 output tensors', () => {
  const tensors = [
    { name: 'label', tensor: { type: 'int64' as const, dims: [2], data: BigInt64Array.from([0n, 1n]) } },
    {
      name: 'probabilities',
      tensor: { type: 'float32' as const, dims: [2, 1], data: Float32Array.from([0.25, 0.75]) },
    },
    { name: 'class', tensor: { type: 'string' as const, dims: [2], data: ['stays', 'churns'] } },
    { name: 'flag', tensor: { type: 'bool' as const, dims: [2], data: Uint8Array.from([1, 0]) } },
  ];

  it('encodes typed contents in the field of each datatype', () => {
    const { outputs, rawOutputContents } = encodeOutputs(tensors, 'typed');
    expect(rawOutputContents).toEqual([]);
    expect(outputs.map((o) => [o.name, o.datatype, o.shape])).toEqual([
      ['label', 'INT64', [2]],
      ['probabilities', 'FP32', [2, 1]],
      ['class', 'BYTES', [2]],
      ['flag', 'BOOL', [2]],
    ]);
    expect(outputs[0]!.contents!.int64Contents).toEqual([0, 1]);
    expect(outputs[1]!.contents!.fp32Contents).toEqual([0.25, 0.75]);
    expect(outputs[2]!.contents!.bytesContents.map(String)).toEqual(['stays', 'churns']);
    expect(outputs[3]!.contents!.boolContents).toEqual([true, false]);
  });

  it('encodes raw contents as little-endian buffers, BYTES with 4-byte length prefixes', () => {
    const { outputs, rawOutputContents } = encodeOutputs(tensors, 'raw');
    expect(outputs.every((o) => o.contents === undefined)).toBe(true);
    expect(rawOutputContents[0]!.readBigInt64LE(8)).toBe(1n);
    expect(rawOutputContents[1]!.readFloatLE(4)).toBe(0.75);
    expect(rawOutputContents[2]!.toString('hex')).toBe(
      Buffer.concat([
        Buffer.from([5, 0, 0, 0]),
        Buffer.from('stays'),
        Buffer.from([6, 0, 0, 0]),
        Buffer.from('churns'),
      ]).toString('hex'),
    );
    expect([...rawOutputContents[3]!]).toEqual([1, 0]);
  });
});

import { createChannel, createClient, Metadata, type Client } from 'nice-grpc';
import {
  GRPCInferenceServiceDefinition,
  type InferTensorContents,
  type ModelInferRequest,
  type ModelInferRequest_InferInputTensor,
  type ModelInferResponse,
} from '../../gen/inference/grpc_service.js';

/** An Open Inference Protocol (V2) client over the generated definition, as any V2 client would call. */
export type V2Client = Client<typeof GRPCInferenceServiceDefinition> & { close(): void };

/** Creates a V2 client; `apiKey` is sent as `x-api-key` on every call. */
export function createV2Client(address: string, options: { apiKey?: string } = {}): V2Client {
  const channel = createChannel(address);
  const client = createClient(GRPCInferenceServiceDefinition, channel, {
    '*': options.apiKey === undefined ? {} : { metadata: Metadata({ 'x-api-key': options.apiKey }) },
  });
  return Object.assign(client, { close: () => channel.close() });
}

/** Typed contents holding only FP32 values (the generated messages have no partial factories). */
export function fp32Contents(values: readonly number[]): InferTensorContents {
  return {
    boolContents: [],
    intContents: [],
    int64Contents: [],
    uintContents: [],
    uint64Contents: [],
    fp32Contents: [...values],
    fp64Contents: [],
    bytesContents: [],
  };
}

/** An input tensor; `contents` undefined means the data goes in `raw_input_contents`. */
export function inputTensor(
  name: string,
  datatype: string,
  shape: number[],
  contents: InferTensorContents | undefined,
): ModelInferRequest_InferInputTensor {
  return { name, datatype, shape, parameters: {}, contents };
}

/** A ModelInfer request for the `features` input of a model: rows sent typed or raw. */
export function featuresRequest(
  model: string,
  rows: readonly (readonly number[])[],
  options: { raw?: boolean; id?: string; version?: string; outputs?: string[] } = {},
): ModelInferRequest {
  const flat = rows.flat();
  const shape = [rows.length, rows[0]?.length ?? 0];
  return {
    modelName: model,
    modelVersion: options.version ?? '',
    id: options.id ?? '',
    parameters: {},
    inputs: [inputTensor('features', 'FP32', shape, options.raw ? undefined : fp32Contents(flat))],
    outputs: (options.outputs ?? []).map((name) => ({ name, parameters: {} })),
    rawInputContents: options.raw ? [Buffer.from(Float32Array.from(flat).buffer)] : [],
  };
}

/** An output of a response as numbers, whether it came typed or raw (FP32 only). */
export function fp32Output(response: ModelInferResponse, name: string): number[] {
  const index = response.outputs.findIndex((output) => output.name === name);
  if (index < 0) throw new Error(`no output ${name} in ${response.outputs.map((o) => o.name).join(', ')}`);
  const raw = response.rawOutputContents[index];
  if (raw !== undefined) {
    const copy = Uint8Array.from(raw);
    return [...new Float32Array(copy.buffer)];
  }
  return response.outputs[index]!.contents!.fp32Contents;
}

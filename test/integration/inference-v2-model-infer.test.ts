import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelInferRequest, ModelStreamInferResponse } from '../../gen/inference/grpc_service.js';
import {
  featuresRequest,
  fp32Contents,
  fp32Output,
  inputTensor,
  type V2Client,
} from '../helpers/v2-client.js';
import { expectClose, inlineScoresOf, statusWithDetailsOf as statusOf } from '../helpers/v2-scoring.js';
import { toolPath } from '../helpers/tools.js';
import type { TestServer } from './setup/test-server.js';
import { startV2Server, type V2Server } from './setup/v2-server.js';

// Inference over the Open Inference Protocol (V2) against the real server: ModelInfer and ModelStreamInfer with
// typed and raw tensors, scored like the ScoringService scores the same features, and grpcurl through reflection.
// Through a client built from the generated `inference.GRPCInferenceService` definition — what tritonclient and
// perf_analyzer speak on the wire. The registry is seeded from a copy of `models/`.
let server: V2Server;
let t: TestServer;
let v2: V2Client;
let churnFeatures: readonly string[];
/** Seeded customers' features, in the churn model's column order. */
let featureRows: (ids: number[]) => number[][];

beforeAll(async () => {
  server = await startV2Server();
  ({ t, v2, churnFeatures, featureRows } = server);
});
afterAll(async () => {
  await server?.close();
});

/** The ScoringService's scores for the same rows sent as inline features. */
const inlineScores = (model: string, rows: number[][]) =>
  inlineScoresOf(t.client, churnFeatures, model, rows);

describe('Open Inference Protocol: ModelInfer', () => {
  it('scores typed contents like the ScoringService scores the same inline features (1e-6)', async () => {
    const rows = featureRows([1234, 42, 7]);
    const response = await v2.modelInfer(featuresRequest('churn', rows, { id: 'req-1' }));
    expect(response).toMatchObject({ modelName: 'churn', modelVersion: '1', id: 'req-1' });
    expect(response.rawOutputContents).toEqual([]);
    expect(response.outputs.map(({ name, datatype, shape }) => ({ name, datatype, shape }))).toEqual([
      { name: 'churn_probability', datatype: 'FP32', shape: [3, 1] },
      { name: 'contributions', datatype: 'FP32', shape: [3, churnFeatures.length] },
    ]);
    expectClose(fp32Output(response, 'churn_probability'), await inlineScores('churn', rows));
  });

  it('scores raw_input_contents and answers in raw_output_contents (1e-6 of ScoringService)', async () => {
    const rows = featureRows([5, 6, 7, 8]);
    const response = await v2.modelInfer(featuresRequest('clv', rows, { raw: true }));
    expect(response.outputs.every((output) => output.contents === undefined)).toBe(true);
    expect(response.rawOutputContents.map((buffer) => buffer.byteLength)).toEqual([
      4 * 4,
      4 * 4 * churnFeatures.length,
    ]);
    expectClose(fp32Output(response, 'clv'), await inlineScores('clv', rows));
  });

  it('returns only the requested outputs, raw when binary_data_output says so', async () => {
    const request = featuresRequest('churn', featureRows([3, 4]), { outputs: ['contributions'] });
    request.parameters = { binary_data_output: { parameterChoice: { $case: 'boolParam', value: true } } };
    const response = await v2.modelInfer(request);
    expect(response.outputs.map(({ name, shape }) => ({ name, shape }))).toEqual([
      { name: 'contributions', shape: [2, churnFeatures.length] },
    ]);
    expect(response.rawOutputContents).toHaveLength(1);
    expect(fp32Output(response, 'contributions')).toHaveLength(2 * churnFeatures.length);
  });

  it.each<[string, (request: ModelInferRequest) => void, RegExp]>([
    [
      'a wrong shape',
      (r) => (r.inputs[0]!.shape = [2, churnFeatures.length - 1]),
      /^input "features": shape \[2, 10\] does not match the model's FP32 \[-1, 11\]/,
    ],
    [
      'a wrong datatype',
      (r) => (r.inputs[0]!.datatype = 'FP64'),
      /^input "features": datatype FP64 is not accepted; the model takes FP32 \[-1, 11\]/,
    ],
    [
      'a missing input',
      (r) => (r.inputs = []),
      /^input "features": missing; model churn@1 takes FP32 \[-1, 11\] \(columns: tenure_months, /,
    ],
    [
      'an input the model does not have',
      (r) => (r.inputs[0]!.name = 'input__0'),
      /^input "input__0": not an input of model churn@1 \(inputs: features\)/,
    ],
    [
      'too few values for the shape',
      (r) => (r.inputs[0]!.contents = fp32Contents([1, 2, 3])),
      /^input "features": contents\.fp32_contents has 3 values; shape \[2, 11\] takes 22/,
    ],
    [
      'a value that is not finite',
      (r) => (r.inputs[0]!.contents!.fp32Contents[13] = NaN),
      /^input "features": element 13 \(row 1, column 2 monthly_charges\) is NaN/,
    ],
    [
      'an output the model does not have',
      (r) => (r.outputs = [{ name: 'probabilities', parameters: {} }]),
      /^output "probabilities": not an output of model churn@1 \(outputs: churn_probability, contributions\)/,
    ],
  ])('refuses %s with INVALID_ARGUMENT naming the tensor', async (_, breakIt, message) => {
    const request = featuresRequest('churn', featureRows([1, 2]));
    breakIt(request);
    const { code, details } = await statusOf(v2.modelInfer(request));
    expect(code).toBe('INVALID_ARGUMENT');
    expect(details).toMatch(message);
  });

  it('refuses raw contents of the wrong size, naming the input', async () => {
    const request = featuresRequest('churn', featureRows([1, 2]), { raw: true });
    request.rawInputContents = [request.rawInputContents[0]!.subarray(4)];
    expect(await statusOf(v2.modelInfer(request))).toEqual({
      code: 'INVALID_ARGUMENT',
      details: 'input "features": raw_input_contents has 84 bytes; FP32 [-1, 11] of shape [2, 11] takes 88',
    });
  });
});

describe('Open Inference Protocol: ModelStreamInfer', () => {
  it('answers every request in order; a bad one gets error_message and the stream goes on', async () => {
    const rows = featureRows([10, 11]);
    const bad = featuresRequest('churn', rows, { id: 'b' });
    bad.inputs[0]!.shape = [1, 3];
    const requests = [
      featuresRequest('churn', rows, { id: 'a' }),
      bad,
      featuresRequest('nope', rows, { id: 'c' }),
      featuresRequest('churn', rows, { id: 'd', raw: true }),
    ];
    async function* send(): AsyncIterable<ModelInferRequest> {
      for (const request of requests) yield await Promise.resolve(request);
    }
    const responses: ModelStreamInferResponse[] = [];
    for await (const response of v2.modelStreamInfer(send())) responses.push(response);

    expect(responses.map((r) => r.inferResponse?.id)).toEqual(['a', 'b', 'c', 'd']);
    expect(responses.map((r) => r.errorMessage.split(':')[0] || 'OK')).toEqual([
      'OK',
      'INVALID_ARGUMENT',
      'NOT_FOUND',
      'OK',
    ]);
    expect(responses[1]!.errorMessage).toContain('input "features": shape [1, 3]');
    const expected = await inlineScores('churn', rows);
    expectClose(fp32Output(responses[0]!.inferResponse!, 'churn_probability'), expected);
    expectClose(fp32Output(responses[3]!.inferResponse!, 'churn_probability'), expected);
  });
});

describe('Open Inference Protocol: raw tensors built by hand', () => {
  it('accepts a shape given as [rows, F] with data in raw_input_contents only', async () => {
    const rows = featureRows([50]);
    const request: ModelInferRequest = {
      modelName: 'churn',
      modelVersion: '1',
      id: '',
      parameters: { priority: { parameterChoice: { $case: 'int64Param', value: 1 } } },
      inputs: [inputTensor('features', 'FP32', [1, churnFeatures.length], undefined)],
      outputs: [{ name: 'churn_probability', parameters: {} }],
      rawInputContents: [Buffer.from(Float32Array.from(rows[0]!).buffer)],
    };
    const response = await v2.modelInfer(request);
    expectClose(fp32Output(response, 'churn_probability'), await inlineScores('churn', rows));
  });
});

describe('Open Inference Protocol: existing tools', () => {
  it('lets grpcurl find the V2 service through reflection and run ModelInfer from JSON', async () => {
    const rows = featureRows([60]);
    const request = {
      model_name: 'churn',
      id: 'from-grpcurl',
      inputs: [
        {
          name: 'features',
          datatype: 'FP32',
          shape: [1, churnFeatures.length],
          contents: { fp32_contents: rows[0] },
        },
      ],
      outputs: [{ name: 'churn_probability' }],
    };
    const { stdout } = await promisify(execFile)(toolPath('grpcurl'), [
      '-plaintext',
      '-d',
      JSON.stringify(request),
      t.address,
      'inference.GRPCInferenceService/ModelInfer',
    ]);
    const response = JSON.parse(stdout) as {
      id: string;
      outputs: Array<{ name: string; contents: { fp32Contents: number[] } }>;
    };
    expect(response.id).toBe('from-grpcurl');
    expect(response.outputs.map((o) => o.name)).toEqual(['churn_probability']);
    expectClose(response.outputs[0]!.contents.fp32Contents, await inlineScores('churn', rows));
  });
});

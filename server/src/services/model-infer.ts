import { randomUUID } from 'node:crypto';
import { SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { modelInferAuditEntries } from '../audit/model-infer-audit-entries.js';
import type { PredictionAuditLog } from '../audit/prediction-audit-log.js';
import type { Config } from '../config/config.js';
import type { CallPlan } from '../grpc/call-plan.js';
import { AppError, errors } from '../errors.js';
import type { ModelInferRequest, ModelInferResponse } from '../../../gen/inference/grpc_service.js';
import type { DriftMonitor } from '../inference/drift-monitor.js';
import type { InferenceStatistics } from '../inference/inference-statistics.js';
import type { ModelCatalog } from '../inference/model-catalog.js';
import type { OnnxModel, OutputTensor, TensorSignature } from '../inference/onnx-model.js';
import { decodeFp32Input, encodeOutputs, toV2Datatype } from '../inference/v2-tensors.js';
import type { WorkScheduler } from '../scheduling/work-scheduler.js';

/**
 * Runs one Open Inference Protocol (V2) ModelInfer request, at its call's priority, on behalf of the
 * call's principal; `audit` says whether the call goes to the prediction audit log (sampled).
 */
export type ModelInfer = (
  request: ModelInferRequest,
  plan: Pick<CallPlan, 'signal' | 'deadline' | 'priority' | 'principal' | 'trace'>,
  options: { readonly audit: boolean },
) => Promise<ModelInferResponse>;

/**
 * Creates the ModelInfer logic shared by the unary and the streaming RPC.
 *
 * A request names the model (and optionally the version; empty = the default), and sends the model's one
 * input (`features`, FP32 `[-1, features]`) as typed `contents.fp32_contents` or as `raw_input_contents`.
 * Outputs are the requested ones (all tensor outputs when none are named), returned the way the inputs
 * came: raw when the request used `raw_input_contents` (what tritonclient and perf_analyzer send, and what
 * Triton always answers), typed otherwise. The request parameter `binary_data_output` (bool) overrides
 * that; other parameters are ignored.
 *
 * Every request for a known model version is counted in `statistics` (ModelStatistics): a success with
 * its queue, input, run and output times, or a failure with its duration.
 *
 * An answered request with `audit` set (the unary RPC: streams are the batch door, like ScoreStream) is
 * sampled like a Score call (AUDIT_SAMPLE_RATE) into the prediction audit log: one row per row of the
 * input tensor, with the principal (null for the anonymous one), the request `id` (a new UUID when it is
 * empty), model@version, the row's score and outputs, and the trace id (`model-infer-audit-entries.ts`).
 *
 * @throws AppError NOT_FOUND for an unknown model or version; INVALID_ARGUMENT naming the input or output
 *   for a missing, unknown or malformed tensor; INTERNAL when ONNX Runtime fails.
 */
export function createModelInfer(deps: {
  catalog: ModelCatalog;
  drift: DriftMonitor;
  /** Runs the model (timed in the same metrics as Score's runs), at the call's priority. */
  scheduler: WorkScheduler;
  tracer: Tracer;
  statistics: InferenceStatistics;
  audit: PredictionAuditLog;
  config: Pick<Config, 'maxCustomersPerRequest' | 'auditSampleRate'>;
}): ModelInfer {
  const { catalog, drift, scheduler, tracer, statistics, audit, config } = deps;

  /** One ONNX Runtime run, traced like the scoring API's. */
  async function run(
    model: OnnxModel,
    input: { data: Float32Array; dims: readonly number[] },
    outputs: readonly string[],
    plan: Pick<CallPlan, 'deadline' | 'priority'>,
  ): Promise<Record<string, OutputTensor>> {
    const span = tracer.startSpan('inference', {
      attributes: {
        'ci.model': `${model.name}@${model.version}`,
        'ci.rows': input.dims[0] ?? 1,
        'ci.priority': plan.priority,
        'ci.protocol': 'v2',
      },
    });
    try {
      return await scheduler.run(model, input, outputs, plan);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
      if (error instanceof AppError) throw error;
      throw errors.inferenceFailed(model.name, error);
    } finally {
      span.end();
    }
  }

  return (request, plan, options) => {
    const arrived = performance.now();
    return scheduler.execute(plan.priority, () => infer(request, plan, options, arrived));
  };

  /** Queues a sampled call's predictions for the audit log, as Score does (`scoring-service.ts`). */
  function auditCall(
    request: ModelInferRequest,
    plan: Parameters<ModelInfer>[1],
    model: OnnxModel,
    rows: number,
    outputs: ReadonlyArray<{ name: string; tensor: OutputTensor }>,
  ): void {
    if (config.auditSampleRate <= 0 || Math.random() >= config.auditSampleRate) return;
    const call = {
      predictedAt: new Date(),
      requestId: request.id !== '' ? request.id : randomUUID(),
      principal: plan.principal.via === 'anonymous' ? null : plan.principal.id,
      traceId: plan.trace?.traceId ?? null,
      spanId: plan.trace?.spanId ?? null,
    };
    audit.record(modelInferAuditEntries(call, model, rows, outputs));
  }

  async function infer(
    request: ModelInferRequest,
    plan: Parameters<ModelInfer>[1],
    options: Parameters<ModelInfer>[2],
    arrived: number,
  ): Promise<ModelInferResponse> {
    const started = performance.now();
    if (request.modelName === '')
      throw errors.invalidArgument('model_name', 'required (see RepositoryIndex)');
    const model = catalog.resolve(request.modelName, request.modelVersion);
    try {
      return await inferWith(model, request, plan, options, arrived, started);
    } catch (error) {
      statistics.failed(model.name, model.version, performance.now() - arrived);
      throw error;
    }
  }

  async function inferWith(
    model: OnnxModel,
    request: ModelInferRequest,
    plan: Parameters<ModelInfer>[1],
    options: Parameters<ModelInfer>[2],
    arrived: number,
    started: number,
  ): Promise<ModelInferResponse> {
    const { signal } = plan;
    const feed = decodeInput(model, request, config.maxCustomersPerRequest);
    const outputNames = requestedOutputs(model, request);
    signal.throwIfAborted();

    const width = model.featureNames.length;
    for (let row = 0; row < feed.data.length / width; row++) {
      drift.observe(model, feed.data.subarray(row * width, (row + 1) * width));
    }
    const decoded = performance.now();
    const results = await run(model, feed, outputNames, plan);
    const ran = performance.now();
    const binary = request.parameters['binary_data_output']?.parameterChoice;
    const raw = binary?.$case === 'boolParam' ? binary.value : request.rawInputContents.length > 0;
    const outputs = outputNames.map((name) => ({ name, tensor: results[name]! }));
    const encoded = encodeOutputs(outputs, raw ? 'raw' : 'typed');
    const finished = performance.now();
    statistics.succeeded(model.name, model.version, feed.dims[0] ?? 1, {
      totalMs: finished - arrived,
      queueMs: started - arrived,
      inputMs: decoded - started,
      inferMs: ran - decoded,
      outputMs: finished - ran,
    });
    if (options.audit) auditCall(request, plan, model, feed.dims[0] ?? 1, outputs);
    return {
      modelName: model.name,
      modelVersion: model.version,
      id: request.id,
      parameters: {},
      outputs: encoded.outputs,
      rawOutputContents: encoded.rawOutputContents,
    };
  }
}

/** The model's one input, checked against its signature. */
function decodeInput(model: OnnxModel, request: ModelInferRequest, maxRows: number) {
  const expected = model.manifest.input.name;
  const { inputs, rawInputContents } = request;
  if (rawInputContents.length > 0 && rawInputContents.length !== inputs.length) {
    throw errors.invalidArgument(
      'raw_input_contents',
      `has ${rawInputContents.length} entries for ${inputs.length} inputs; send one per input, in the order of inputs`,
    );
  }
  const seen = new Set<string>();
  for (const input of inputs) {
    if (input.name !== expected) {
      throw errors.invalidArgument(
        `input "${input.name}"`,
        `not an input of ${describe(model)} (inputs: ${expected})`,
      );
    }
    if (seen.has(input.name)) throw errors.invalidArgument(`input "${input.name}"`, 'sent more than once');
    seen.add(input.name);
  }
  const index = inputs.findIndex((input) => input.name === expected);
  const width = model.featureNames.length;
  if (index < 0) {
    throw errors.invalidArgument(
      `input "${expected}"`,
      `missing; ${describe(model)} takes FP32 [-1, ${width}] (columns: ${model.featureNames.join(', ')})`,
    );
  }
  return decodeFp32Input(inputs[index]!, rawInputContents[index], {
    shape: [-1, width],
    maxRows,
    maxRowsSetting: 'MAX_CUSTOMERS_PER_REQUEST',
    columnNames: model.featureNames,
  });
}

/** The outputs to compute: the requested ones, or every output V2 can carry. */
function requestedOutputs(model: OnnxModel, request: ModelInferRequest): string[] {
  const available = v2Outputs(model).map((output) => output.name);
  if (request.outputs.length === 0) return available;
  const names: string[] = [];
  for (const { name } of request.outputs) {
    if (!available.includes(name)) {
      throw errors.invalidArgument(
        `output "${name}"`,
        `not an output of ${describe(model)} (outputs: ${available.join(', ')})`,
      );
    }
    if (names.includes(name)) throw errors.invalidArgument(`output "${name}"`, 'requested more than once');
    names.push(name);
  }
  return names;
}

/** The model's tensor outputs whose element type V2 can carry (what ModelMetadata lists). */
export function v2Outputs(model: OnnxModel): TensorSignature[] {
  return model.tensorOutputs.filter((output) => toV2Datatype(output.type) !== undefined);
}

function describe(model: OnnxModel): string {
  return `model ${model.name}@${model.version}`;
}

import type { Config } from '../config/config.js';
import {
  DataType,
  ModelInstanceGroup_Kind,
  type ModelConfig,
  type ModelVersionPolicy,
} from '../../../gen/inference/model_config.js';
import type { ServedModel } from '../inference/model-catalog.js';
import { compareVersions } from '../inference/model-version-order.js';
import type { OnnxModel } from '../inference/onnx-model.js';
import { toV2Datatype, toV2Shape } from '../inference/v2-tensors.js';
import { v2Outputs } from './model-infer.js';

/** Triton's platform name for ONNX models, which V2 clients recognise. */
export const ONNX_PLATFORM = 'onnxruntime_onnx';

/** Triton's `DataType` of each V2 datatype name (Triton calls BYTES `TYPE_STRING`). */
const DATA_TYPES: Readonly<Record<string, DataType>> = {
  BOOL: DataType.TYPE_BOOL,
  UINT8: DataType.TYPE_UINT8,
  UINT16: DataType.TYPE_UINT16,
  UINT32: DataType.TYPE_UINT32,
  UINT64: DataType.TYPE_UINT64,
  INT8: DataType.TYPE_INT8,
  INT16: DataType.TYPE_INT16,
  INT32: DataType.TYPE_INT32,
  INT64: DataType.TYPE_INT64,
  FP16: DataType.TYPE_FP16,
  FP32: DataType.TYPE_FP32,
  FP64: DataType.TYPE_FP64,
  BYTES: DataType.TYPE_STRING,
  BF16: DataType.TYPE_BF16,
};

/** A Triton version number: a decimal integer without leading zeros that fits a double exactly. */
const NUMERIC_VERSION = /^(0|[1-9][0-9]{0,14})$/;

/**
 * Triton's model configuration for one served version (the answer to `GRPCInferenceService.ModelConfig`),
 * describing the same signature as ModelMetadata in Triton's batching convention:
 *
 * - `max_batch_size` is the most rows one request may carry (`MAX_CUSTOMERS_PER_REQUEST`), so tensor
 *   `dims` leave the batch dimension out: input `features` FP32 `[features]`, outputs their ONNX shape
 *   after the batch dimension (an output that is only the batch dimension, `[-1]`, is `dims: [1]` with
 *   `reshape: []`, as Triton writes it).
 * - No scheduling choice (Triton's default scheduler): each V2 request is its own ONNX Runtime run
 *   (`WorkScheduler.run`; it names its outputs, so it does not share the Score calls' micro-batches).
 * - One CPU instance per version (one ONNX Runtime session).
 * - `version_policy`: see {@link versionPolicy}.
 */
export function tritonModelConfig(
  served: ServedModel,
  model: OnnxModel,
  config: Pick<Config, 'maxCustomersPerRequest'>,
): ModelConfig {
  const servable = new Set([...(served.registeredVersions ?? []), ...served.versions.keys()]);
  return {
    name: model.name,
    platform: ONNX_PLATFORM,
    backend: 'onnxruntime',
    versionPolicy: versionPolicy([...servable]),
    maxBatchSize: config.maxCustomersPerRequest,
    input: [
      { name: model.manifest.input.name, dataType: DataType.TYPE_FP32, dims: [model.featureNames.length] },
    ],
    output: v2Outputs(model).map((output) => {
      const dims = toV2Shape(output.shape).slice(1);
      return {
        name: output.name,
        dataType: DATA_TYPES[toV2Datatype(output.type)!]!,
        dims: dims.length === 0 ? [1] : dims,
        reshape: dims.length === 0 ? { shape: [] } : undefined,
      };
    }),
    instanceGroup: [{ name: `${model.name}_0`, count: 1, kind: ModelInstanceGroup_Kind.KIND_CPU }],
  };
}

/**
 * The versions a client may ask for: every version the registry holds (one this replica has not loaded is
 * loaded on demand). Triton's policy lists versions as numbers: when every version is one, `specific` lists
 * them, lowest first; otherwise (a version such as `2026-05` or `1.1`) `all`, which is what they are.
 */
export function versionPolicy(versions: readonly string[]): ModelVersionPolicy {
  if (versions.length > 0 && versions.every((version) => NUMERIC_VERSION.test(version))) {
    return {
      policyChoice: {
        $case: 'specific',
        value: { versions: [...versions].sort(compareVersions).map(Number) },
      },
    };
  }
  return { policyChoice: { $case: 'all', value: {} } };
}

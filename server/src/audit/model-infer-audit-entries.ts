import type { OnnxModel, OutputTensor } from '../inference/onnx-model.js';
import type { AuditOutputValue, ModelInferAuditEntry } from './audit-entry.js';

/** What a ModelInfer audit row records about the call (every row of the call shares it). */
export type ModelInferAuditCall = Pick<
  ModelInferAuditEntry,
  'predictedAt' | 'requestId' | 'principal' | 'traceId' | 'spanId'
>;

/**
 * The audit entries of one answered V2 ModelInfer call: one per row of the input tensor (`rows`), each
 * with that row's slice of every output the response carried, and the model's score when the score output
 * was among them (the column the scoring API reads, `OnnxModel.scoreColumn`). Non-finite numbers become
 * null (JSON has no NaN); 64-bit integers become numbers, as on the wire.
 */
export function modelInferAuditEntries(
  call: ModelInferAuditCall,
  model: OnnxModel,
  rows: number,
  outputs: ReadonlyArray<{ readonly name: string; readonly tensor: OutputTensor }>,
): ModelInferAuditEntry[] {
  const scoreName = model.manifest.outputs.score.name;
  const scoreTensor = outputs.find((output) => output.name === scoreName)?.tensor;
  const entries: ModelInferAuditEntry[] = [];
  for (let row = 0; row < rows; row++) {
    const sliced: Record<string, AuditOutputValue[]> = {};
    for (const { name, tensor } of outputs) {
      const width = tensor.data.length / rows;
      sliced[name] = auditValues(tensor, row * width, (row + 1) * width);
    }
    let score: number | null = null;
    if (scoreTensor !== undefined) {
      const width = scoreTensor.data.length / rows;
      const value = scoreTensor.data[row * width + (width === 1 ? 0 : model.scoreColumn)];
      score = typeof value === 'number' && Number.isFinite(value) ? value : null;
    }
    // The call's fields one by one: a spread followed by more properties took V8's slow path, ten times
    // the cost of the rest of this function.
    entries.push({
      predictedAt: call.predictedAt,
      requestId: call.requestId,
      principal: call.principal,
      traceId: call.traceId,
      spanId: call.spanId,
      method: 'ModelInfer',
      customerId: null,
      model: model.name,
      modelVersion: model.version,
      rowIndex: row,
      score,
      featureSource: 'inline',
      outputs: sliced,
    });
  }
  return entries;
}

/** Elements `from` to `to` (exclusive) of a tensor, as JSON can hold them. */
function auditValues(tensor: OutputTensor, from: number, to: number): AuditOutputValue[] {
  const values: AuditOutputValue[] = [];
  for (let i = from; i < to; i++) {
    const value: unknown = tensor.data[i];
    if (tensor.type === 'bool') values.push(value !== 0 && value !== false);
    else if (typeof value === 'bigint') values.push(Number(value));
    else if (typeof value === 'number') values.push(Number.isFinite(value) ? value : null);
    else values.push(String(value));
  }
  return values;
}

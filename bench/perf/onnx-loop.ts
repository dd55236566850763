import { OnnxModel } from '../../server/src/inference/onnx-model.js';

/** What the in-process ONNX loop measured. */
export interface OnnxLoopResult {
  readonly rowsPerRun: number;
  readonly runsPerSecond: number;
  readonly microsPerRun: number;
}

/**
 * The compute ceiling: the churn model run back to back in this process through the same `OnnxModel`
 * the server uses (one ONNX Runtime run per call), for `seconds`.
 */
export async function onnxLoop(rowsPerRun: number, seconds: number): Promise<OnnxLoopResult> {
  const model = await OnnxModel.load('models/churn/1');
  try {
    const row = model.manifest.warmupRows[0]!;
    const input = Float32Array.from({ length: rowsPerRun * row.length }, (_, i) => row[i % row.length]!);
    const until = performance.now() + seconds * 1000;
    let runs = 0;
    const started = performance.now();
    while (performance.now() < until) {
      await model.predict(input, rowsPerRun);
      runs++;
    }
    const elapsed = (performance.now() - started) / 1000;
    return { rowsPerRun, runsPerSecond: runs / elapsed, microsPerRun: (elapsed * 1e6) / runs };
  } finally {
    await model.close();
  }
}

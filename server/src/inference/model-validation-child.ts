/**
 * The process `model-validation.ts` forks to try a model version where it cannot hurt the server: it
 * creates the ONNX Runtime session and runs the warm-up exactly as a replica would (`OnnxModel.fromArtifact`),
 * then reports and exits. A model that hangs, allocates without bound or crashes ONNX Runtime takes only
 * this process down; the parent kills it at its time and memory limits.
 *
 * Protocol (IPC, advanced serialization): the child sends `{ type: 'ready' }` once the runtime is loaded,
 * receives one {@link ValidationRequest}, and answers one {@link ValidationReply}.
 */
import { OnnxModel } from './onnx-model.js';

/** What the parent sends: the version to try. */
export interface ValidationRequest {
  readonly manifest: unknown;
  readonly onnx: Uint8Array;
  readonly source: string;
}

/** What the child answers: ok, or the load error's message. */
export type ValidationReply =
  | { readonly type: 'result'; readonly ok: true }
  | { readonly type: 'result'; readonly ok: false; readonly reason: string };

function send(message: { type: 'ready' } | ValidationReply): Promise<void> {
  return new Promise((resolve) => process.send!(message, undefined, undefined, () => resolve()));
}

process.once('message', (request: ValidationRequest) => {
  void (async () => {
    let reply: ValidationReply;
    try {
      const model = await OnnxModel.fromArtifact(request.manifest, request.onnx, request.source);
      await model.close();
      reply = { type: 'result', ok: true };
    } catch (error) {
      reply = { type: 'result', ok: false, reason: error instanceof Error ? error.message : String(error) };
    }
    await send(reply);
    process.disconnect();
  })();
});
await send({ type: 'ready' });

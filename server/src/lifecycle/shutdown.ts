import type { Logger } from '../telemetry/logger.js';

/** One step of the shutdown sequence. */
export interface ShutdownStep {
  /** For logs, e.g. `grpc server`. */
  readonly name: string;
  /** Closes the resource; must be idempotent. */
  readonly close: () => Promise<void> | void;
  /** Gives up on this step after this many ms (the next steps still run). @default 5000 */
  readonly timeoutMs?: number;
}

/**
 * Runs the shutdown steps in order, once, however many times it is called (SIGTERM twice, a failed
 * start followed by SIGINT). A step that throws or times out is logged and the sequence goes on: a
 * stuck pool must not keep the embedded Postgres running.
 *
 * @returns a function that starts the sequence and resolves when every step has finished.
 */
export function createShutdown(steps: readonly ShutdownStep[], logger: Logger): () => Promise<void> {
  let running: Promise<void> | undefined;
  async function run(): Promise<void> {
    for (const step of steps) {
      const started = performance.now();
      const timeoutMs = step.timeoutMs ?? 5_000;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(step.close),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
        logger.debug({ step: step.name, ms: Math.round(performance.now() - started) }, 'shutdown step done');
      } catch (error) {
        logger.error({ err: error, step: step.name }, 'shutdown step failed');
      } finally {
        clearTimeout(timer);
      }
    }
  }
  return () => (running ??= run());
}

import type { Logger } from '../telemetry/logger.js';

/** Options for {@link Closers.register}. */
export interface CloseOptions {
  /** Gives up on this close after this many ms (the ones after it still run). @default 5000 */
  readonly timeoutMs?: number;
}

/** The shutdown sequence, built as resources are created. */
export interface Closers {
  /**
   * Adds a resource's close (which must be idempotent) to the sequence. Register a resource right after
   * creating it: what is created later, and may use it, is then closed before it.
   */
  register(name: string, close: () => Promise<void> | void, options?: CloseOptions): void;
  /**
   * Closes everything registered, in reverse order of registration, each close awaited before the next
   * starts. Runs once, however many times it is called (SIGTERM twice, a failed start followed by SIGINT).
   *
   * @returns a promise that resolves, never rejects, when every close has finished or given up.
   */
  closeAll(): Promise<void>;
}

interface Step {
  readonly name: string;
  readonly close: () => Promise<void> | void;
  readonly timeoutMs: number;
}

/**
 * Creates the shutdown sequence: resources are closed in reverse order of creation, so that nothing is
 * closed while something still using it is open. A close that throws or times out is logged and the
 * sequence goes on: a stuck pool must not keep the embedded Postgres running.
 *
 * A resource registered after {@link Closers.closeAll} has begun (a start-up step that finished late) is
 * closed at once.
 */
export function createClosers(logger: Logger): Closers {
  const steps: Step[] = [];
  let running: Promise<void> | undefined;

  async function run(step: Step): Promise<void> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.resolve().then(step.close),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${step.timeoutMs} ms`)), step.timeoutMs);
        }),
      ]);
      logger.debug({ step: step.name, ms: Math.round(performance.now() - started) }, 'shutdown step done');
    } catch (error) {
      logger.error({ err: error, step: step.name }, 'shutdown step failed');
    } finally {
      clearTimeout(timer);
    }
  }

  async function runAll(): Promise<void> {
    for (let step = steps.pop(); step !== undefined; step = steps.pop()) await run(step);
  }

  return {
    register(name, close, options = {}) {
      const step = { name, close, timeoutMs: options.timeoutMs ?? 5_000 };
      if (running === undefined) steps.push(step);
      // `run` never rejects.
      else void run(step);
    },
    closeAll() {
      running ??= runAll();
      return running;
    },
  };
}

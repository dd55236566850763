import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ValidationReply, ValidationRequest } from './model-validation-child.js';
import { externalDataProblem } from './onnx-external-data.js';

/** Limits of one validation child. */
export interface ModelValidationLimits {
  /** Wall-clock bound on session creation plus warm-up, from the moment the child's runtime is loaded. */
  readonly timeoutMs: number;
  /** Resident memory (MiB) the child may reach, ONNX Runtime's native allocations included. */
  readonly maxRssMb: number;
}

/** {@link ModelValidationLimits} when none are configured (the `MODEL_VALIDATION_*` defaults). */
export const DEFAULT_VALIDATION_LIMITS: ModelValidationLimits = { timeoutMs: 10_000, maxRssMb: 384 };

/** The verdict on a version: it loads and warms up within the limits, or why not. */
export type ValidationOutcome = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/**
 * The validation child could not be started or did not get ready (a full process table, a slow disk): not
 * the model's fault, so nothing is marked failed, and the version is not loaded either.
 */
export class ValidatorUnavailableError extends Error {
  override readonly name = 'ValidatorUnavailableError';
}

/** How long the child may take to load Node and ONNX Runtime before the model is handed over. */
const STARTUP_TIMEOUT_MS = 30_000;
/** How often the child's resident memory is read. */
const RSS_POLL_MS = 20;
const CHILD = new URL(
  import.meta.url.endsWith('.ts') ? './model-validation-child.ts' : './model-validation-child.js',
  import.meta.url,
);

/**
 * Tries model versions in a separate, resource-limited process before the server loads them itself.
 *
 * A replica creates ONNX Runtime sessions and runs them in its own process, with no bound on time or
 * memory: a graph with a `Loop` of 2^62 iterations hangs it, a `ConstantOfShape` of a huge shape gets it
 * OOM-killed — and since the version is still `registered`, the restarted replica loads it again (issue 18).
 * So every version is first tried here: external data is refused before anything runs, then a child
 * (`process.execPath`, the same code as the server) creates the session and runs the warm-up; the parent
 * kills it with SIGKILL past `timeoutMs`, or when its resident memory (read from `/proc/<pid>/status`, since
 * ONNX Runtime allocates natively, outside V8's `--max-old-space-size`) passes `maxRssMb`.
 *
 * One child runs at a time, so validations cost at most one child's memory
 * (`test/integration/poison-models.test.ts`).
 */
export class ModelValidator {
  private queue: Promise<unknown> = Promise.resolve();
  /** The child running now, killed by {@link close} and when this process exits. */
  private current: ChildProcess | undefined;
  private closed = false;

  constructor(private readonly limits: ModelValidationLimits = DEFAULT_VALIDATION_LIMITS) {}

  /**
   * Whether a version loads and warms up within the limits.
   *
   * @param source Where the bytes came from (`registry churn@3`), for the reason.
   * @throws ValidatorUnavailableError when the child cannot be started.
   */
  validate(manifest: unknown, onnx: Uint8Array, source: string): Promise<ValidationOutcome> {
    const external = externalDataProblem(onnx);
    if (external !== undefined) return Promise.resolve({ ok: false, reason: `${source}: ${external}` });
    const run = this.queue.then(() => {
      if (this.closed) throw new ValidatorUnavailableError('the model validator is closed');
      return this.runChild({ manifest, onnx, source });
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Kills the running child (its validation fails with ValidatorUnavailableError) and refuses new ones. */
  close(): void {
    this.closed = true;
    this.current?.kill('SIGKILL');
  }

  private runChild(request: ValidationRequest): Promise<ValidationOutcome> {
    const { timeoutMs, maxRssMb } = this.limits;
    return new Promise((resolve, reject) => {
      let child: ChildProcess;
      try {
        child = fork(fileURLToPath(CHILD), [], {
          // Under tsx (development, tests) the child is TypeScript too.
          execArgv: [
            `--max-old-space-size=${maxRssMb}`,
            ...(CHILD.pathname.endsWith('.ts') ? ['--import', 'tsx'] : []),
          ],
          serialization: 'advanced',
          stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        });
      } catch (error) {
        reject(new ValidatorUnavailableError(`cannot start the model validation process: ${String(error)}`));
        return;
      }
      this.current = child;
      // A child stuck in a Loop cannot notice that its parent is gone: take it along on the way out.
      const killOnExit = () => child.kill('SIGKILL');
      process.once('exit', killOnExit);
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-1_000)));
      let ready = false;
      /** Why the parent killed the child, once it did. */
      let killedFor: string | undefined;
      let settled = false;
      const finish = (outcome: ValidationOutcome | Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearInterval(poll);
        process.removeListener('exit', killOnExit);
        this.current = undefined;
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const kill = (reason: string) => {
        killedFor ??= reason;
        child.kill('SIGKILL');
      };
      let timer = setTimeout(() => kill(`not ready after ${STARTUP_TIMEOUT_MS} ms`), STARTUP_TIMEOUT_MS);
      const poll = setInterval(() => {
        const rssMb = residentMb(child.pid);
        if (rssMb !== undefined && rssMb > maxRssMb) {
          kill(`validation used more than ${maxRssMb} MiB of memory (MODEL_VALIDATION_MAX_RSS_MB)`);
        }
      }, RSS_POLL_MS);
      child.on('error', (error) =>
        finish(new ValidatorUnavailableError(`model validation process failed: ${error.message}`)),
      );
      child.on('message', (message: { type: 'ready' } | ValidationReply) => {
        if (message.type === 'ready' && !ready) {
          ready = true;
          clearTimeout(timer);
          timer = setTimeout(
            () =>
              kill(
                `validation timed out after ${timeoutMs} ms (session creation and warm-up; MODEL_VALIDATION_TIMEOUT_MS)`,
              ),
            timeoutMs,
          );
          child.send(request);
        } else if (message.type === 'result') {
          finish(message.ok ? { ok: true } : { ok: false, reason: message.reason });
        }
      });
      // 'close', not 'exit': it comes after the IPC channel has delivered the child's last message.
      child.on('close', (code, signal) => {
        if (this.closed) {
          finish(new ValidatorUnavailableError('the model validator was closed during the validation'));
          return;
        }
        if (!ready) {
          // Before the model was handed over, a death is the environment's, not the model's.
          finish(
            new ValidatorUnavailableError(
              `the model validation process did not get ready: ${killedFor ?? `it exited (${signal ?? code})`}` +
                (stderr.trim() === '' ? '' : `: ${stderr.trim().slice(-300)}`),
            ),
          );
          return;
        }
        const why =
          killedFor ??
          (stderr.includes('heap out of memory')
            ? `validation used more than ${maxRssMb} MiB of memory (MODEL_VALIDATION_MAX_RSS_MB)`
            : `the validation process died (${signal ?? `exit code ${code}`}) while loading it${
                stderr.trim() === '' ? '' : `: ${stderr.trim().slice(-300)}`
              }`);
        finish({ ok: false, reason: `${request.source}: ${why}` });
      });
    });
  }
}

/** A process's resident memory in MiB (VmRSS), or `undefined` where `/proc` cannot tell. */
function residentMb(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    // A few hundred bytes from procfs: a synchronous read is quicker than scheduling an asynchronous one.
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? undefined : Number(match[1]) / 1024;
  } catch {
    return undefined;
  }
}

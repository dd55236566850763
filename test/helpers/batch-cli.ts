import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The batch command-line tools, by the file `npm run batch:*` runs. */
export const BATCH_CLIS = {
  score: 'batch/src/score/score-cli.ts',
  train: 'batch/src/train/train-cli.ts',
  retention: 'batch/src/retention/retention-cli.ts',
} as const;

/** A batch CLI running as its own process. */
export interface BatchCliProcess {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves with the exit code, or the signal name when killed. */
  readonly exited: Promise<number | string>;
}

/**
 * Spawns a batch CLI under tsx, as `npm run batch:<name> -- <args>` does, with exactly `env` (plus PATH,
 * HOME and LOG_LEVEL=warn), so nothing leaks in from the test runner's environment.
 */
export function spawnBatchCli(
  name: keyof typeof BATCH_CLIS,
  args: readonly string[],
  env: Record<string, string>,
): BatchCliProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', BATCH_CLIS[name], ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Runs a batch CLI to completion. */
export async function runBatchCli(
  name: keyof typeof BATCH_CLIS,
  args: readonly string[],
  env: Record<string, string>,
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const cli = spawnBatchCli(name, args, env);
  const code = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

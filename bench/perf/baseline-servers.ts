import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pinned } from './harness.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A comparison server running as its own process. */
export interface BaselineServer {
  readonly address: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Starts `bench/perf/<name>.ts` (echo-server or raw-server) and waits for the port it prints (on CPU 0 when pinned). */
export async function startBaselineServer(name: 'echo-server' | 'raw-server'): Promise<BaselineServer> {
  const node = [process.execPath, '--import', 'tsx', `bench/perf/${name}.ts`];
  // Pinned like the server (see harness.ts), so the baselines are measured the same way.
  const [file, ...args] = pinned ? ['taskset', '--cpu-list', '0', ...node] : node;
  const child: ChildProcess = spawn(file!, args, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
    createInterface({ input: child.stdout! }).once('line', (line) =>
      resolve((JSON.parse(line) as { port: number }).port),
    );
  });
  return {
    address: `127.0.0.1:${port}`,
    pid: child.pid!,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

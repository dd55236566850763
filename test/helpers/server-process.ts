import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The server running as its own process, started exactly as `npm start` does. */
export interface ServerProcess {
  readonly child: ChildProcess;
  /** Parsed JSON log lines so far. */
  readonly logs: Array<Record<string, unknown>>;
  /** Everything written to stderr. */
  readonly stderr: () => string;
  /** Resolves with the first log line whose `msg` matches. */
  waitForLog(msg: string | RegExp, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the exit code (or signal name). */
  readonly exited: Promise<number | string>;
}

/**
 * Spawns `server/src/main.ts` under tsx with exactly `env` (plus PATH/HOME, info logs and a free metrics
 * port unless `env` says otherwise), so nothing leaks in from the test runner's environment (a
 * DATABASE_URL, say).
 */
export function spawnServer(
  env: Record<string, string>,
  options: { compiled?: boolean; nodeArgs?: readonly string[]; cpus?: string; cwd?: string } = {},
): ServerProcess {
  // `compiled`: the release build (`npm run build` → dist/), as the container runs it.
  const args = [
    ...(options.nodeArgs ?? []),
    ...(options.compiled ? ['dist/server/src/main.js'] : ['--import', 'tsx', 'server/src/main.ts']),
  ];
  // `cpus`: only on these CPUs (taskset execs node, so the pid is the server's).
  const [file, argv] =
    options.cpus === undefined
      ? [process.execPath, args]
      : ['taskset', ['--cpu-list', options.cpus, process.execPath, ...args]];
  // `cwd`: another copy of the repository (test/integration/private-checkout.test.ts).
  const child = spawn(file, argv, {
    cwd: options.cwd ?? ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      LOG_LEVEL: 'info',
      METRICS_HOST: '127.0.0.1',
      METRICS_PORT: '0',
      // With a real database the server wants transport and auth chosen explicitly; tests that
      // exercise them override these.
      ...(env.DATABASE_URL === undefined ? {} : { GRPC_TLS: 'plaintext', AUTH_MODE: 'none' }),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const waiters: Array<{
    match: (line: Record<string, unknown>) => boolean;
    resolve: (line: Record<string, unknown>) => void;
  }> = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      line = { msg: text, unparsed: true };
    }
    logs.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.match(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  return {
    child,
    logs,
    stderr: () => stderr,
    exited,
    waitForLog(msg, timeoutMs = 60_000) {
      const match = (line: Record<string, unknown>) =>
        typeof line.msg === 'string' && (typeof msg === 'string' ? line.msg === msg : msg.test(line.msg));
      const seen = logs.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `no log "${String(msg)}" within ${timeoutMs} ms; stderr: ${stderr}; logs: ${JSON.stringify(logs.slice(-5))}`,
              ),
            ),
          timeoutMs,
        );
        void exited.then((code) =>
          reject(
            new Error(
              `server exited (${code}) before logging "${String(msg)}"; stderr: ${stderr}; logs: ${JSON.stringify(logs.slice(-5))}`,
            ),
          ),
        );
        waiters.push({
          match,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
      });
    },
  };
}

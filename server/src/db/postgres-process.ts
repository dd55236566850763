import { execSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { StartupError } from '../lifecycle/startup-error.js';
import type { SystemUser } from './postgres-system-user.js';

/** How a Postgres program runs. */
export interface PostgresRunOptions {
  /** Run as this user (when this process is root); undefined: as this process's user. */
  readonly runAs: SystemUser | undefined;
  /** Working folder (one that `runAs` can reach). */
  readonly cwd: string;
  /** Receives every line the program writes. */
  readonly onLog: (line: string) => void;
}

/** A running postmaster, a child of this process. */
export interface Postmaster {
  /** Fast shutdown (SIGINT); resolves when it has exited. Safe to call more than once. */
  stop(): Promise<void>;
  /** Sends SIGINT without waiting: for a process `exit` handler. */
  stopNow(): void;
}

/**
 * Runs `initdb` with `args` to completion.
 *
 * @throws StartupError when it cannot be run or fails (quoting its error line).
 */
export async function runInitdb(
  initdb: string,
  args: readonly string[],
  options: PostgresRunOptions,
): Promise<void> {
  const locale = messageLocale();
  const child = spawnProgram(initdb, [...args, `--lc-messages=${locale}`], options, locale);
  const lines = collectLines(child, options.onLog);
  const outcome = await new Promise<{ code: number | null } | { error: Error }>((resolve) => {
    child.on('error', (error) => resolve({ error }));
    child.once('close', (code) => resolve({ code }));
  });
  if ('error' in outcome) throw cannotRun(initdb, outcome.error, options.runAs);
  if (outcome.code !== 0) {
    const reason =
      lines.findLast((line) => /error:/i.test(line)) ?? lines.at(-1) ?? `exit code ${outcome.code}`;
    throw new StartupError(
      `embedded Postgres: initdb failed (${reason.trim()}); fix that, or remove the cluster folder it names ` +
        'to start a new one (LOG_LEVEL=debug shows its output)',
    );
  }
}

/**
 * Starts `postgres` with `args` and resolves once it accepts connections.
 *
 * @throws StartupError when it cannot be run or exits first, naming the cause (port in use, a folder in use
 *   by another server, its FATAL line) and the fix (test/integration/embedded-postgres-errors.test.ts).
 */
export async function startPostmaster(
  postgres: string,
  args: readonly string[],
  options: PostgresRunOptions & { readonly port: number; readonly clusterDir: string },
): Promise<Postmaster> {
  const child = spawnProgram(postgres, args, options, messageLocale());
  let ready: () => void = () => undefined;
  const lines = collectLines(child, (line) => {
    options.onLog(line);
    if (line.includes('database system is ready to accept connections')) ready();
  });
  // 'close' comes after the last line was read, so an early exit's error can quote it.
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    ready = resolve;
    // A permanent listener: an 'error' event without one would crash the process.
    child.on('error', (error) => reject(cannotRun(postgres, error, options.runAs)));
    void exited.then(() => reject(exitedEarly(lines, options)));
  });
  let stopped: Promise<void> | undefined;
  return {
    stop() {
      if (stopped === undefined) {
        child.kill('SIGINT');
        stopped = exited;
      }
      return stopped;
    },
    stopNow() {
      child.kill('SIGINT');
    },
  };
}

function spawnProgram(file: string, args: readonly string[], options: PostgresRunOptions, locale: string) {
  return spawn(file, args, {
    cwd: options.cwd,
    ...(options.runAs && { uid: options.runAs.uid, gid: options.runAs.gid }),
    // The ready line is matched in English (embedded-postgres issue 15); LC_MESSAGES alone, so that the
    // cluster's collation still follows the environment as it always has.
    env: { ...process.env, LC_MESSAGES: locale },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function collectLines(child: ChildProcess, onLog: (line: string) => void): string[] {
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    if (stream === null) continue;
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      onLog(line);
    });
  }
  return lines;
}

function cannotRun(file: string, error: Error, runAs: SystemUser | undefined): StartupError {
  const code = (error as NodeJS.ErrnoException).code ?? error.message;
  const as = runAs === undefined ? '' : ` as the ${runAs.name} user`;
  return new StartupError(
    `embedded Postgres: cannot run ${file}${as} (${code}); check that it exists and that this user can ` +
      'reach and execute it (run npm ci again), or set DATABASE_URL to use another database',
    { cause: error },
  );
}

function exitedEarly(lines: readonly string[], options: { port: number; clusterDir: string }): StartupError {
  if (lines.some((line) => line.includes('Address already in use'))) {
    return new StartupError(
      `embedded Postgres: port ${options.port} on 127.0.0.1 is in use; stop what listens there, or set ` +
        'EMBEDDED_POSTGRES_PORT to a free port',
    );
  }
  if (lines.some((line) => line.includes('lock file "postmaster.pid" already exists'))) {
    return new StartupError(
      `embedded Postgres: another server uses ${options.clusterDir}; stop it (another npm start?), or set ` +
        'EMBEDDED_POSTGRES_DIR to another folder',
    );
  }
  const fatal = lines.findLast((line) => /\b(FATAL|PANIC):/.test(line));
  const reason = fatal?.replace(/^.*?\b(FATAL|PANIC):\s*/, '') ?? lines.at(-1)?.trim() ?? 'no output';
  return new StartupError(
    `embedded Postgres exited while starting (${reason}); fix that, or set DATABASE_URL to use another ` +
      'database (LOG_LEVEL=debug shows its log)',
  );
}

let locale: string | undefined;

/** An English locale for Postgres's messages: as embedded-postgres chose it, the first one `locale -a` has. */
function messageLocale(): string {
  if (locale !== undefined) return locale;
  let available: ReadonlySet<string> = new Set();
  try {
    available = new Set(
      execSync('locale -a', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(/\r?\n/),
    );
  } catch {
    // No `locale` program: the POSIX locale below.
  }
  locale = ['en_US.UTF-8', 'C.UTF-8', 'en_US.utf8'].find((name) => available.has(name)) ?? 'C';
  return locale;
}

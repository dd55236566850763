import { environmentSchema, readUrlFile } from '../../../server/src/config/config.js';
import { ConfigError, environmentError } from '../../../server/src/config/env-errors.js';

/** The environment every batch CLI reads (flags come on top): the database and logging. */
export interface BatchEnvironment {
  /** `DATABASE_URL` (or the content of `DATABASE_URL_FILE`, read once: a job is short); unset: the embedded quick-start Postgres. */
  readonly databaseUrl: string | undefined;
  /** `EMBEDDED_POSTGRES_DIR`. @default ".pgdata" */
  readonly embeddedPostgresDir: string;
  /** `EMBEDDED_POSTGRES_PORT`. @default 54329 */
  readonly embeddedPostgresPort: number;
  /** `DATABASE_CONNECT_TIMEOUT_MS`: how long to wait for a new connection. @default 2000 */
  readonly databaseConnectTimeoutMs: number;
  /** `LOG_LEVEL`. @default "info" */
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

// The server's own rules and defaults for these variables, and nothing of its serving settings (TLS,
// authentication, ...), which a batch job neither has nor needs.
const batchSchema = environmentSchema.pick({
  DATABASE_URL: true,
  DATABASE_URL_FILE: true,
  EMBEDDED_POSTGRES_DIR: true,
  EMBEDDED_POSTGRES_PORT: true,
  DATABASE_CONNECT_TIMEOUT_MS: true,
  LOG_LEVEL: true,
});

/**
 * Parses the batch CLIs' environment.
 *
 * @throws ConfigError naming each invalid variable (never echoing `DATABASE_URL` or the file's content,
 *   which hold a password).
 */
export function loadBatchEnvironment(env: Readonly<Record<string, string | undefined>>): BatchEnvironment {
  const known = Object.fromEntries(
    Object.keys(batchSchema.shape).map((name) => [name, env[name] === '' ? undefined : env[name]]),
  );
  const parsed = batchSchema.safeParse(known);
  if (!parsed.success) throw environmentError(parsed.error, env);
  const e = parsed.data;
  const problems: string[] = [];
  if (e.DATABASE_URL !== undefined && e.DATABASE_URL_FILE !== undefined) {
    problems.push('DATABASE_URL, DATABASE_URL_FILE: set at most one');
  }
  const databaseUrl =
    e.DATABASE_URL_FILE === undefined ? e.DATABASE_URL : readUrlFile(e.DATABASE_URL_FILE, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    databaseUrl,
    embeddedPostgresDir: e.EMBEDDED_POSTGRES_DIR,
    embeddedPostgresPort: e.EMBEDDED_POSTGRES_PORT,
    databaseConnectTimeoutMs: e.DATABASE_CONNECT_TIMEOUT_MS,
    logLevel: e.LOG_LEVEL,
  };
}

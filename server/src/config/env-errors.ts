import type { z } from 'zod';

/** Variables whose values may hold credentials and must never appear in messages or logs. */
const SECRET_VARIABLES: ReadonlySet<string> = new Set(['DATABASE_URL', 'DATABASE_READ_URL']);

/**
 * Thrown when the environment does not describe a valid configuration. The message is
 * `invalid configuration:` and then one indented line per problem, each naming its variable.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  /** @param problems One line each, e.g. `DATABASE_URL, DATABASE_URL_FILE: set at most one`. */
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

/**
 * The ConfigError for environment variables that failed their zod schema (the server's and the batch CLIs'
 * share it): one problem per issue, naming the variable, what is wrong and the value it held, e.g.
 * `GRPC_PORT: Too big: expected number to be <=65535 (got "70000")`. Variables that may hold credentials
 * (`DATABASE_URL`, `DATABASE_READ_URL`) say `value hidden` instead of their value.
 */
export function environmentError(
  error: z.ZodError,
  env: Readonly<Record<string, string | undefined>>,
): ConfigError {
  return new ConfigError(
    error.issues.map((issue) => {
      const name = String(issue.path[0]);
      const got = SECRET_VARIABLES.has(name) ? 'value hidden' : `got ${JSON.stringify(env[name])}`;
      return `${name}: ${issue.message} (${got})`;
    }),
  );
}

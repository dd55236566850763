/**
 * A command-line mistake: a bad flag value, a missing required flag, an unknown option. The message names
 * the flag (or the environment variable it fell back to); CLIs print it with their usage and exit 2.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Exit code of a CLI given bad arguments (the shell convention for misuse). */
export const USAGE_EXIT_CODE = 2;

/**
 * Turns `node:util` `parseArgs` errors (unknown option, missing value) into a {@link UsageError}; rethrows
 * anything else.
 */
export function toUsageError(error: unknown): UsageError {
  if (error instanceof UsageError) return error;
  if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
    return new UsageError(error.message);
  }
  throw error;
}

/**
 * For a CLI's top level: prints a {@link UsageError} as `<cli>: <message>` and exits with
 * {@link USAGE_EXIT_CODE}; rethrows anything else. `promise.catch(exitOnUsageError('model'))`.
 */
export function exitOnUsageError(cli: string): (error: unknown) => never {
  return (error) => {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${cli}: ${error.message}`);
    process.exit(USAGE_EXIT_CODE);
  };
}

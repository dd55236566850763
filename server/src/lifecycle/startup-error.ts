/**
 * A start-up failure the user can fix: its message is one line that names the cause and the fix (for example
 * `embedded Postgres: port 54329 is in use; set EMBEDDED_POSTGRES_PORT to a free port`). `main.ts` prints it
 * as it is, without a stack, and exits 1, as it does for a `ConfigError`.
 */
export class StartupError extends Error {
  override readonly name = 'StartupError';

  /** @param message One line: the cause, then the fix. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The first line of what was thrown, for a {@link StartupError} that quotes an underlying failure. */
export function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.trim().split('\n', 1)[0] ?? '';
}

import { UsageError } from '../../../client/src/cli/usage-error.js';

/** Where a flag's value came from, for error messages: the flag itself or its environment fallback. */
export interface FlagSource {
  /** The flag, e.g. `--shard-index`. */
  readonly flag: string;
  /** The environment variable used when the flag is absent, e.g. `JOB_COMPLETION_INDEX`. */
  readonly env?: string;
}

/**
 * Parses a whole number within `[min, max]` from a flag value, else from `env[source.env]`, else `fallback`.
 *
 * @throws UsageError naming the flag (and the variable, when the value came from it), e.g.
 *   `--shard-count: expected an integer from 1 to 10000, got "0"`.
 */
export function integerFlag(
  value: string | undefined,
  source: FlagSource,
  range: { readonly min: number; readonly max: number },
  env: Readonly<Record<string, string | undefined>>,
  fallback: number,
): number {
  const fromEnv = value === undefined && source.env !== undefined ? env[source.env] : undefined;
  const raw = value ?? (fromEnv === '' ? undefined : fromEnv);
  if (raw === undefined) return fallback;
  const parsed = /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(parsed) || parsed < range.min || parsed > range.max) {
    const where = value === undefined ? `${source.env} (the default of ${source.flag})` : source.flag;
    throw new UsageError(
      `${where}: expected an integer from ${range.min} to ${range.max}, got ${JSON.stringify(raw)}`,
    );
  }
  return parsed;
}

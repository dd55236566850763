import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { Logger } from '../telemetry/logger.js';

/**
 * Watches `DATABASE_URL_FILE` (rendered by a Vault Agent template with dynamic credentials) and calls
 * `onChange` with the new connection string whenever the agent re-renders it, so the pools rotate to
 * the new credentials before the old lease expires. Unreadable or unchanged content is ignored.
 *
 * @returns a function that stops watching.
 */
export function watchDatabaseUrlFile(
  path: string,
  current: string,
  onChange: (url: string) => Promise<void>,
  options: { intervalMs: number; logger: Logger },
): () => void {
  let last = current;
  const listener = () => {
    let url: string;
    try {
      url = readFileSync(path, 'utf8').trim();
    } catch (error) {
      options.logger.warn({ err: error }, 'DATABASE_URL_FILE unreadable; keeping the current credentials');
      return;
    }
    if (url === '' || url === last) return;
    onChange(url).then(
      () => {
        last = url;
        options.logger.info('database credentials from DATABASE_URL_FILE rotated');
      },
      (error: unknown) =>
        options.logger.error(
          { err: error },
          'new DATABASE_URL_FILE credentials do not work; keeping the current ones',
        ),
    );
  };
  watchFile(path, { interval: options.intervalMs, persistent: false }, listener);
  return () => unwatchFile(path, listener);
}

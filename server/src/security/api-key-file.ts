import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { Logger } from '../telemetry/logger.js';
import { apiKeyListSchema, type ApiKeyAuthenticator, type ApiKeyList } from './api-key-authenticator.js';

/**
 * Reads and validates an API-key list file (`API_KEYS_FILE`).
 *
 * @throws Error naming the file and the first problem.
 */
export function readApiKeyFile(path: string): ApiKeyList {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`API_KEYS_FILE ${path}: ${String(error)}`);
  }
  const parsed = apiKeyListSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`API_KEYS_FILE ${path}: [${issue.path.join('.')}] ${issue.message}`);
  }
  return parsed.data;
}

/**
 * Reloads the key list when the file changes (a rotated Kubernetes Secret, a Vault Agent template), by
 * polling its status every `intervalMs`. It fails closed: a file that is deleted or no longer valid leaves
 * no key in force (every API key is refused, with an error log saying why) until a valid file is back —
 * deleting the file, or a key from it, must revoke, never keep the old list alive. Returns a function that
 * stops watching.
 */
export function watchApiKeyFile(
  path: string,
  authenticator: ApiKeyAuthenticator,
  options: { intervalMs: number; logger: Logger },
): () => void {
  const listener = () => {
    try {
      authenticator.replace(readApiKeyFile(path));
      options.logger.info({ keys: authenticator.size }, 'API keys reloaded');
    } catch (error) {
      authenticator.replace([]);
      options.logger.error(
        { err: error, path },
        'API key file missing or invalid: every API key is refused until a valid file is back',
      );
    }
  };
  watchFile(path, { interval: options.intervalMs, persistent: false }, listener);
  return () => unwatchFile(path, listener);
}

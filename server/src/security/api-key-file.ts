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
 * polling its status every `intervalMs`. An invalid new file is logged and ignored: the previous keys
 * stay in force. Returns a function that stops watching.
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
      options.logger.error({ err: error }, 'API key file change ignored: the new file is invalid');
    }
  };
  watchFile(path, { interval: options.intervalMs, persistent: false }, listener);
  return () => unwatchFile(path, listener);
}

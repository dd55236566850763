import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../telemetry/logger.js';
import type { VaultSession } from './vault-session.js';

/** Options for {@link syncVaultKvToFiles}. */
export interface VaultKvFilesOptions {
  readonly mount: string;
  readonly path: string;
  /** Folder the secret's keys are written to, one file per key (mode 0600). */
  readonly dir: string;
  /** How often the secret is read again. */
  readonly intervalMs: number;
}

/**
 * Mirrors a KV v2 secret into files — one file per key, named after the key (`api_keys`,
 * `jwt_hs256_secret`, `tls_cert`, ...) — the way a Vault Agent template would. The server's file-based
 * settings (API_KEYS_FILE, TLS_CERT_FILE, JWT_HS256_SECRET_FILE, ...) point at them, so the direct and
 * the injector modes share one code path, and rotations reach the file watchers that already exist.
 * Files are replaced atomically (write, then rename) and only when their content changed.
 *
 * The first read must succeed (the server cannot start without its secrets); later failures keep the
 * current files, are logged and retried on the next interval.
 *
 * @returns a function that stops the refresh.
 */
export async function syncVaultKvToFiles(
  session: VaultSession,
  options: VaultKvFilesOptions,
  logger: Logger,
): Promise<() => void> {
  const written = new Map<string, string>();
  await mkdir(options.dir, { recursive: true, mode: 0o700 });

  async function sync(): Promise<void> {
    const secret = await session.readKv(options.mount, options.path);
    for (const [key, value] of Object.entries(secret)) {
      if (!/^[A-Za-z0-9_.-]+$/.test(key)) continue;
      const content = typeof value === 'string' ? value : JSON.stringify(value);
      if (written.get(key) === content) continue;
      const file = path.join(options.dir, key);
      await writeFile(`${file}.tmp`, content, { mode: 0o600 });
      await rename(`${file}.tmp`, file);
      written.set(key, content);
    }
  }

  await sync();
  logger.info({ keys: [...written.keys()], dir: options.dir }, 'Vault secrets written to files');
  const timer = setInterval(() => {
    sync().catch((error: unknown) =>
      logger.warn({ err: error }, 'refreshing Vault secrets failed; keeping the current ones'),
    );
  }, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

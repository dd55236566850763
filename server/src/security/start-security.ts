import type { Config } from '../config/config.js';
import type { Closers } from '../lifecycle/closers.js';
import type { Logger } from '../telemetry/logger.js';
import { ApiKeyAuthenticator } from './api-key-authenticator.js';
import { readApiKeyFile, watchApiKeyFile } from './api-key-file.js';
import { JwtAuthenticator } from './jwt-authenticator.js';
import { PrincipalLimits } from './principal-limits.js';
import { createServerCredentials } from './server-credentials.js';

/**
 * The gRPC port's credentials, the authenticators and the per-principal limits (rate and open streams,
 * shared by the rate-limit guard and the scoring streams), with the watchers that reload a rotated API key
 * file and JWT key material (their stops are registered on `closers`). TLS files are re-read by the
 * credentials themselves.
 *
 * @throws when a TLS file, the API key file or the JWT key material cannot be read (before listening).
 */
export async function startSecurity(config: Config, deps: { logger: Logger; closers: Closers }) {
  const { logger, closers } = deps;
  const { tls, auth, rateLimits, maxStreamsPerPrincipal } = config.security;
  const credentials = await createServerCredentials(tls);
  const apiKeys =
    auth.apiKeysFile === undefined ? undefined : new ApiKeyAuthenticator(readApiKeyFile(auth.apiKeysFile));
  if (apiKeys !== undefined && auth.apiKeysFile !== undefined) {
    closers.register(
      'api key file watcher',
      watchApiKeyFile(auth.apiKeysFile, apiKeys, { intervalMs: auth.apiKeysReloadIntervalMs, logger }),
    );
  }
  const jwt = auth.jwt === undefined ? undefined : await JwtAuthenticator.create(auth.jwt, logger);
  if (jwt !== undefined) {
    closers.register('JWT key watcher', jwt.watch({ intervalMs: auth.apiKeysReloadIntervalMs, logger }));
  }
  logger.info(
    { tls: tls.mode, auth: auth.mode, apiKeys: apiKeys?.size ?? 0, jwt: auth.jwt?.keys.kind ?? 'off' },
    'security configured',
  );
  const limits = new PrincipalLimits({ rateLimits, maxStreamsPerPrincipal });
  return { credentials, authentication: { mode: auth.mode, apiKeys, jwt }, limits };
}

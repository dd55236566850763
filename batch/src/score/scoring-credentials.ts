import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ChannelCredentials } from 'nice-grpc';
import type { ScoringClientOptions } from '../../../client/src/scoring-client.js';
import { UsageError } from '../cli/usage-error.js';

/** How a batch job reaches and authenticates to the scoring server. */
export interface ScoringCredentials {
  /** `credentials` (transport), `auth` (call credentials) and channel options for `createScoringClient`. */
  readonly clientOptions: Pick<ScoringClientOptions, 'credentials' | 'auth' | 'channelOptions'>;
  /** What is used, for logs; never a secret, e.g. `tls, api key from file`. */
  readonly description: string;
}

/**
 * Reads the client side of the server's security settings from the environment — never from flags, which
 * other users of the machine can see in `ps`. The key or token needs the `batch` role (ScoreStream).
 *
 * - `SCORING_API_KEY` or `SCORING_API_KEY_FILE`: sent as `x-api-key` (the file is read once: a job is short).
 * - `SCORING_BEARER_TOKEN` or `SCORING_BEARER_TOKEN_FILE`: a JWT sent as `authorization: Bearer`; the file
 *   is re-read for every call, so a token that Vault Agent rewrites is picked up by the next reconnect.
 * - `SCORING_TLS`: `plaintext` or `tls`. @default `tls` when a `SCORING_TLS_*` file is set, else `plaintext`
 * - `SCORING_TLS_CA_FILE`: CA bundle (PEM) the server's certificate must chain to. @default the system roots
 * - `SCORING_TLS_CERT_FILE`, `SCORING_TLS_KEY_FILE`: client certificate and key, for a server that wants mTLS.
 * - `SCORING_TLS_SERVER_NAME`: the name the server's certificate must carry (and the `:authority` sent) when
 *   it differs from the address's host, e.g. `SCORING_ADDRESS=dns:///ci-headless.ml.svc:50051` with a
 *   certificate for `ci.ml.svc`. @default the address's host
 *
 * @throws UsageError naming the variable: an unknown TLS mode, a certificate without its key, a server name
 *   without TLS, both an API key and a bearer token, an unreadable file.
 */
export async function scoringCredentialsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): Promise<ScoringCredentials> {
  const value = (name: string) => (env[name] === '' ? undefined : env[name]);
  const read = (name: string, file: string) =>
    readFile(file).catch((error: unknown) => {
      throw new UsageError(
        `${name}: cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`,
      );
    });

  const caFile = value('SCORING_TLS_CA_FILE');
  const certFile = value('SCORING_TLS_CERT_FILE');
  const keyFile = value('SCORING_TLS_KEY_FILE');
  const mode = value('SCORING_TLS') ?? ((caFile ?? certFile ?? keyFile) ? 'tls' : 'plaintext');
  if (mode !== 'plaintext' && mode !== 'tls') {
    throw new UsageError(`SCORING_TLS: expected plaintext or tls, got ${JSON.stringify(mode)}`);
  }
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError(
      'SCORING_TLS_CERT_FILE, SCORING_TLS_KEY_FILE: set both for a client certificate, or neither',
    );
  }
  const serverName = value('SCORING_TLS_SERVER_NAME');
  if (serverName !== undefined && mode === 'plaintext') {
    throw new UsageError(
      'SCORING_TLS_SERVER_NAME: only with TLS (set SCORING_TLS=tls or a SCORING_TLS_* file)',
    );
  }
  const credentials =
    mode === 'plaintext'
      ? ChannelCredentials.createInsecure()
      : ChannelCredentials.createSsl(
          caFile === undefined ? null : await read('SCORING_TLS_CA_FILE', caFile),
          keyFile === undefined ? null : await read('SCORING_TLS_KEY_FILE', keyFile),
          certFile === undefined ? null : await read('SCORING_TLS_CERT_FILE', certFile),
        );

  const apiKeyFile = value('SCORING_API_KEY_FILE');
  const tokenFile = value('SCORING_BEARER_TOKEN_FILE');
  const apiKey =
    apiKeyFile === undefined
      ? value('SCORING_API_KEY')
      : (await read('SCORING_API_KEY_FILE', apiKeyFile)).toString('utf8').trim();
  const token = value('SCORING_BEARER_TOKEN');
  if (apiKey !== undefined && (token ?? tokenFile) !== undefined) {
    throw new UsageError(
      'SCORING_API_KEY(_FILE), SCORING_BEARER_TOKEN(_FILE): set one kind of credential, not both',
    );
  }
  if (tokenFile !== undefined) await read('SCORING_BEARER_TOKEN_FILE', tokenFile); // fail now if unreadable
  const auth: ScoringClientOptions['auth'] =
    apiKey !== undefined
      ? { apiKey }
      : tokenFile !== undefined
        ? { bearerToken: () => readFileSync(tokenFile, 'utf8').trim() }
        : token !== undefined
          ? { bearerToken: token }
          : undefined;

  const parts = [
    mode === 'tls' ? (certFile === undefined ? 'tls' : 'mtls') : 'plaintext',
    serverName !== undefined ? `server name ${serverName}` : undefined,
    apiKey !== undefined ? `api key${apiKeyFile === undefined ? '' : ' from file'}` : undefined,
    tokenFile !== undefined ? 'bearer token from file' : token !== undefined ? 'bearer token' : undefined,
  ];
  return {
    clientOptions: {
      credentials,
      ...(auth && { auth }),
      ...(serverName !== undefined && {
        channelOptions: { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName },
      }),
    },
    description: parts.filter((part) => part !== undefined).join(', '),
  };
}

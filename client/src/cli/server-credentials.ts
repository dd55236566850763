import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ChannelCredentials } from 'nice-grpc';
import { isLoopbackTarget, type ServiceClientOptions } from '../service-client.js';
import { UsageError } from './usage-error.js';

/**
 * Which of the server's APIs a command-line client calls, and so the prefix of its variables: `SCORING` for
 * the scoring jobs (ScoreStream, role `batch`) and `npm run score` (role `scorer`), `ADMIN` for the training
 * job and `npm run model` (ModelAdminService, role `admin`).
 */
export type ServerClient = 'SCORING' | 'ADMIN';

/** How a command-line client (a batch job, `npm run model`, `npm run score`) reaches and authenticates to the server. */
export interface ServerCredentials {
  /** `credentials` (transport), `auth` (call credentials) and channel options for a service client. */
  readonly clientOptions: Pick<
    ServiceClientOptions,
    'credentials' | 'auth' | 'channelOptions' | 'allowInsecureCredentials'
  >;
  /** What is used, for logs; never a secret, e.g. `tls, api key from file`. */
  readonly description: string;
  /** `<PREFIX>_TLS=plaintext` was set explicitly: a trusted network (a mesh that encrypts, say). */
  readonly plaintextChosen: boolean;
}

/**
 * Refuses, as a usage error naming the variable, a key or token that would cross the network in plaintext
 * because no TLS was configured. Loopback addresses are fine, and so is an explicit `<PREFIX>_TLS=plaintext`
 * (the chart sets it from `grpc.tls.mode`): the caller then passes `allowInsecureCredentials`.
 */
export function refusePlaintextCredentials(
  credentials: ServerCredentials,
  address: string,
  prefix: ServerClient,
): void {
  if (credentials.clientOptions.auth === undefined || isLoopbackTarget(address)) return;
  if (credentials.plaintextChosen || credentials.clientOptions.credentials?._isSecure()) return;
  throw new UsageError(
    `${prefix}_TLS: refusing to send the API key or token over plaintext to ${address}; set ${prefix}_TLS=tls ` +
      `(with ${prefix}_TLS_CA_FILE for a private CA), or ${prefix}_TLS=plaintext on a network you trust`,
  );
}

/**
 * Reads the client side of the server's security settings from the environment — never from flags, which
 * other users of the machine can see in `ps`. The variables below are the scoring jobs' (`prefix`
 * `SCORING`; the key or token needs the `batch` role); the training job reads the same ones with `ADMIN_`
 * (role `admin`).
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
export async function serverCredentialsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  prefix: ServerClient,
): Promise<ServerCredentials> {
  const value = (name: string) => (env[`${prefix}_${name}`] === '' ? undefined : env[`${prefix}_${name}`]);
  const read = (name: string, file: string) =>
    readFile(file).catch((error: unknown) => {
      throw new UsageError(
        `${name}: cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`,
      );
    });

  const caFile = value('TLS_CA_FILE');
  const certFile = value('TLS_CERT_FILE');
  const keyFile = value('TLS_KEY_FILE');
  const mode = value('TLS') ?? ((caFile ?? certFile ?? keyFile) ? 'tls' : 'plaintext');
  if (mode !== 'plaintext' && mode !== 'tls') {
    throw new UsageError(`${prefix}_TLS: expected plaintext or tls, got ${JSON.stringify(mode)}`);
  }
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError(
      `${prefix}_TLS_CERT_FILE, ${prefix}_TLS_KEY_FILE: set both for a client certificate, or neither`,
    );
  }
  const serverName = value('TLS_SERVER_NAME');
  if (serverName !== undefined && mode === 'plaintext') {
    throw new UsageError(
      `${prefix}_TLS_SERVER_NAME: only with TLS (set ${prefix}_TLS=tls or a ${prefix}_TLS_* file)`,
    );
  }
  const credentials =
    mode === 'plaintext'
      ? ChannelCredentials.createInsecure()
      : ChannelCredentials.createSsl(
          caFile === undefined ? null : await read(`${prefix}_TLS_CA_FILE`, caFile),
          keyFile === undefined ? null : await read(`${prefix}_TLS_KEY_FILE`, keyFile),
          certFile === undefined ? null : await read(`${prefix}_TLS_CERT_FILE`, certFile),
        );

  const apiKeyFile = value('API_KEY_FILE');
  const tokenFile = value('BEARER_TOKEN_FILE');
  const apiKey =
    apiKeyFile === undefined
      ? value('API_KEY')
      : (await read(`${prefix}_API_KEY_FILE`, apiKeyFile)).toString('utf8').trim();
  const token = value('BEARER_TOKEN');
  if (apiKey !== undefined && (token ?? tokenFile) !== undefined) {
    throw new UsageError(
      `${prefix}_API_KEY(_FILE), ${prefix}_BEARER_TOKEN(_FILE): set one kind of credential, not both`,
    );
  }
  if (tokenFile !== undefined) await read(`${prefix}_BEARER_TOKEN_FILE`, tokenFile); // fail now if unreadable
  const auth: ServiceClientOptions['auth'] =
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
      // An explicit SCORING_TLS=plaintext is the caller's statement that the network is trusted.
      ...(value('TLS') === 'plaintext' && { allowInsecureCredentials: true }),
      ...(serverName !== undefined && {
        channelOptions: { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName },
      }),
    },
    description: parts.filter((part) => part !== undefined).join(', '),
    plaintextChosen: value('TLS') === 'plaintext',
  };
}

/**
 * The credentials a CLI uses to reach `address`: {@link serverCredentialsFromEnv}, refused (as a usage error)
 * when they would send a key or token over plaintext to another host ({@link refusePlaintextCredentials}).
 */
export async function credentialsToReach(
  address: string,
  env: Readonly<Record<string, string | undefined>>,
  prefix: ServerClient,
): Promise<ServerCredentials> {
  const credentials = await serverCredentialsFromEnv(env, prefix);
  refusePlaintextCredentials(credentials, address, prefix);
  return credentials;
}

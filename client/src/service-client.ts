import {
  ChannelCredentials,
  createChannel,
  createClientFactory,
  type ChannelOptions,
  type Client,
  type CompatServiceDefinition,
} from 'nice-grpc';
import { deadlineMiddleware, type DeadlineOptions } from 'nice-grpc-client-middleware-deadline';
import { callCredentialsMiddleware } from './call-credentials-middleware.js';
import { traceContextMiddleware } from './trace-context-middleware.js';

/** The gRPC retry policy (gRFC A6) the channel applies to every call of the service. */
export interface RetryPolicy {
  /** Attempts including the first. @default 4 */
  readonly maxAttempts: number;
  /** @default 50 */
  readonly initialBackoffMs: number;
  /** @default 1000 */
  readonly maxBackoffMs: number;
  /** @default 2 */
  readonly backoffMultiplier: number;
  /** Status names that are retried. @default ["UNAVAILABLE"] (safe: scoring is idempotent) */
  readonly retryableStatusCodes: readonly string[];
}

/** Options for {@link createServiceClient}; every field has a production default. */
export interface ServiceClientOptions {
  /** Channel credentials, e.g. `ChannelCredentials.createSsl(ca, key, cert)` for (m)TLS. @default insecure (plaintext) */
  readonly credentials?: ChannelCredentials;
  /** Sent with every call: an API key (`x-api-key`) or a JWT (`authorization: Bearer`). @default none */
  readonly auth?: { apiKey: string } | { bearerToken: string | (() => string) };
  /** Deadline of unary calls unless a call sets its own, in ms. Streams have none. @default 2000 */
  readonly deadlineMs?: number;
  /** Retry policy, or `false` for none. */
  readonly retry?: Partial<RetryPolicy> | false;
  /** HTTP/2 keepalive ping interval in ms; detects dead connections between calls. @default 30000 */
  readonly keepaliveTimeMs?: number;
  /** How long to wait for a keepalive ping's answer before dropping the connection, in ms. @default 10000 */
  readonly keepaliveTimeoutMs?: number;
  /**
   * `round_robin` spreads calls over every address the name resolves to — use a `dns:///` address of the
   * chart's headless Service so each client balances over all pods. @default "round_robin"
   */
  readonly loadBalancing?: 'round_robin' | 'pick_first';
  /** Largest message received, in bytes. @default 16 MiB */
  readonly maxReceiveMessageBytes?: number;
  /** Extra grpc-js channel options, applied last. */
  readonly channelOptions?: ChannelOptions;
  /**
   * Send `auth` over a plaintext channel to a host other than this machine. Off by default: anyone on the
   * path could read the key or token. Loopback addresses (`localhost`, `127.0.0.0/8`, `[::1]`, unix sockets)
   * are always allowed. @default false
   */
  readonly allowInsecureCredentials?: boolean;
}

/** Whether a gRPC target names this machine: `localhost`, `127.x.x.x`, `[::1]`, a unix socket. */
export function isLoopbackTarget(address: string): boolean {
  if (address.startsWith('unix:')) return true;
  // Forms: host:port, dns:///host:port, dns://authority/host:port, ipv4:a.b.c.d:port, ipv6:[::1]:port.
  const target = address.replace(/^dns:\/\/[^/]*\//, '').replace(/^(ipv4|ipv6):/, '');
  const host = target.startsWith('[') ? target.slice(0, target.indexOf(']') + 1) : target.split(':')[0]!;
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** A typed client of one service; `close()` closes its channel. */
export type ServiceClient<Definition extends CompatServiceDefinition> = Client<
  Definition,
  DeadlineOptions
> & {
  close(): void;
};

const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 4,
  initialBackoffMs: 50,
  maxBackoffMs: 1_000,
  backoffMultiplier: 2,
  retryableStatusCodes: ['UNAVAILABLE'],
};

/**
 * Creates a client of one of the server's services, with the defaults internal callers should not have to
 * think about: a deadline on unary calls, the gRPC retry policy, keepalive, round-robin balancing, the
 * caller's credentials, and the caller's OpenTelemetry trace context as `traceparent` metadata.
 *
 * @throws Error when `auth` would go over plaintext to another machine (see `allowInsecureCredentials`).
 */
export function createServiceClient<
  Definition extends CompatServiceDefinition & { fullName: string; methods: object },
>(definition: Definition, address: string, options: ServiceClientOptions = {}): ServiceClient<Definition> {
  const credentials = options.credentials ?? ChannelCredentials.createInsecure();
  if (
    options.auth !== undefined &&
    !credentials._isSecure() &&
    !options.allowInsecureCredentials &&
    !isLoopbackTarget(address)
  ) {
    throw new Error(
      `refusing to send credentials over plaintext to ${address}: use TLS (credentials), or ` +
        'allowInsecureCredentials for a network you trust',
    );
  }
  const retry = options.retry === false ? undefined : { ...DEFAULT_RETRY, ...options.retry };
  const serviceConfig = {
    loadBalancingConfig: [{ [options.loadBalancing ?? 'round_robin']: {} }],
    methodConfig: [
      {
        name: [{ service: definition.fullName }],
        ...(retry && {
          retryPolicy: {
            maxAttempts: retry.maxAttempts,
            initialBackoff: `${retry.initialBackoffMs / 1000}s`,
            maxBackoff: `${retry.maxBackoffMs / 1000}s`,
            backoffMultiplier: retry.backoffMultiplier,
            retryableStatusCodes: retry.retryableStatusCodes,
          },
        }),
      },
    ],
  };
  const channel = createChannel(address, credentials, {
    'grpc.service_config': JSON.stringify(serviceConfig),
    'grpc.enable_retries': retry ? 1 : 0,
    'grpc.keepalive_time_ms': options.keepaliveTimeMs ?? 30_000,
    'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? 16 * 1024 * 1024,
    ...options.channelOptions,
  });
  const deadline = options.deadlineMs ?? 2_000;
  // Unary methods get the default deadline; streams (batch) run as long as they need.
  const defaults = Object.fromEntries(
    Object.entries(definition.methods as Record<string, { requestStream: boolean; responseStream: boolean }>)
      .filter(([, method]) => !method.requestStream && !method.responseStream)
      .map(([name]) => [name, { deadline }]),
  );
  const withCredentials =
    options.auth === undefined
      ? createClientFactory().use(traceContextMiddleware)
      : createClientFactory().use(traceContextMiddleware).use(callCredentialsMiddleware(options.auth));
  const client = withCredentials
    .use(deadlineMiddleware)
    // Per-method defaults keyed by method name, which nice-grpc's generic signature cannot express here.
    .create(definition, channel, defaults as never);
  return Object.assign(client, { close: () => channel.close() });
}

import {
  ChannelCredentials,
  createChannel,
  createClientFactory,
  type ChannelOptions,
  type Client,
} from 'nice-grpc';
import { deadlineMiddleware, type DeadlineOptions } from 'nice-grpc-client-middleware-deadline';
import { ScoringServiceDefinition } from '../../server/src/gen/customer_intelligence/scoring/v1/scoring.js';
import { callCredentialsMiddleware } from './call-credentials-middleware.js';
import { traceContextMiddleware } from './trace-context-middleware.js';

export * from '../../server/src/gen/customer_intelligence/scoring/v1/scoring.js';

/** The gRPC retry policy (gRFC A6) applied by the channel to every ScoringService call. */
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

/** Options for {@link createScoringClient}; every field has a production default. */
export interface ScoringClientOptions {
  /** Channel credentials, e.g. `ChannelCredentials.createSsl(ca, key, cert)` for (m)TLS. @default insecure (plaintext) */
  readonly credentials?: ChannelCredentials;
  /** Sent with every call: an API key (`x-api-key`) or a JWT (`authorization: Bearer`). @default none */
  readonly auth?: { apiKey: string } | { bearerToken: string | (() => string) };
  /** Deadline of unary calls (Score, ListModels, GetModel) unless a call sets its own, in ms. ScoreStream has none. @default 2000 */
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
}

/** A typed ScoringService client; `close()` closes its channel. */
export type ScoringClient = Client<typeof ScoringServiceDefinition, DeadlineOptions> & {
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
 * Creates a ScoringService client for internal TypeScript services (and our batch jobs and tests).
 * It propagates the caller's OpenTelemetry trace context as `traceparent` metadata.
 *
 * @param address `host:port`, or `dns:///<headless-service>:<port>` for client-side balancing over pods.
 *
 * @example
 * const client = createScoringClient('dns:///customer-intelligence-headless.ml.svc:50051');
 * const { results } = await client.score({ model: 'churn', modelVersion: '', customers: [{ customerId: '42', features: {} }], reasonCodes: 3 });
 * client.close();
 */
export function createScoringClient(address: string, options: ScoringClientOptions = {}): ScoringClient {
  const retry = options.retry === false ? undefined : { ...DEFAULT_RETRY, ...options.retry };
  const serviceConfig = {
    loadBalancingConfig: [{ [options.loadBalancing ?? 'round_robin']: {} }],
    methodConfig: [
      {
        name: [{ service: ScoringServiceDefinition.fullName }],
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
  const channel = createChannel(address, options.credentials ?? ChannelCredentials.createInsecure(), {
    'grpc.service_config': JSON.stringify(serviceConfig),
    'grpc.enable_retries': retry ? 1 : 0,
    'grpc.keepalive_time_ms': options.keepaliveTimeMs ?? 30_000,
    'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? 16 * 1024 * 1024,
    ...options.channelOptions,
  });
  const deadline = options.deadlineMs ?? 2_000;
  const withCredentials =
    options.auth === undefined
      ? createClientFactory().use(traceContextMiddleware)
      : createClientFactory().use(traceContextMiddleware).use(callCredentialsMiddleware(options.auth));
  const client = withCredentials.use(deadlineMiddleware).create(ScoringServiceDefinition, channel, {
    score: { deadline },
    listModels: { deadline },
    getModel: { deadline },
  });
  return Object.assign(client, { close: () => channel.close() });
}

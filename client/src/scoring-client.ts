import { ScoringServiceDefinition } from '../../gen/customer_intelligence/scoring/v1/scoring.js';
import { createServiceClient, type ServiceClient, type ServiceClientOptions } from './service-client.js';

export * from '../../gen/customer_intelligence/scoring/v1/scoring.js';
export type { RetryPolicy } from './service-client.js';

/** Options for {@link createScoringClient}; every field has a production default. */
export type ScoringClientOptions = ServiceClientOptions;

/** A typed ScoringService client; `close()` closes its channel. */
export type ScoringClient = ServiceClient<typeof ScoringServiceDefinition>;

/**
 * Creates a ScoringService client for internal TypeScript services (and our batch jobs and tests):
 * a 2 s deadline on unary calls (ScoreStream has none), retries on UNAVAILABLE (scoring is idempotent),
 * keepalive, round-robin over every address of a `dns:///` name, optional credentials, and the caller's
 * OpenTelemetry trace context as `traceparent` metadata.
 *
 * @param address `host:port`, or `dns:///<headless-service>:<port>` for client-side balancing over pods.
 *
 * @example
 * const client = createScoringClient('dns:///customer-intelligence-headless.ml.svc:50051');
 * const { results } = await client.score({ model: 'churn', modelVersion: '', customers: [{ customerId: '42', features: {} }], reasonCodes: 3 });
 * client.close();
 */
export function createScoringClient(address: string, options: ScoringClientOptions = {}): ScoringClient {
  return createServiceClient(ScoringServiceDefinition, address, options);
}

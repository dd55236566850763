import { createChannel, createClient, type Client } from 'nice-grpc';
import { HealthDefinition } from 'nice-grpc-server-health';

/** `grpc.health.v1.HealthCheckResponse.ServingStatus`. */
export { HealthCheckResponse_ServingStatus as ServingStatus } from 'nice-grpc-server-health/lib/proto/grpc/health/v1/health.js';

/** A `grpc.health.v1.Health` client (what Kubernetes' gRPC probes and grpc-health-probe call). */
export type HealthClient = Client<typeof HealthDefinition> & { close(): void };

export function createHealthClient(address: string): HealthClient {
  const channel = createChannel(address);
  return Object.assign(createClient(HealthDefinition, channel), { close: () => channel.close() });
}

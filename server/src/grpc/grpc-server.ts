import { readFile } from 'node:fs/promises';
import type { ServerCredentials } from '@grpc/grpc-js';
import type { Tracer } from '@opentelemetry/api';
import { createServer, type Server } from 'nice-grpc';
import { HealthDefinition, HealthServiceImpl, type HealthState } from 'nice-grpc-server-health';
import { ServerReflection, ServerReflectionService } from 'nice-grpc-server-reflection';
import type { Config } from '../config/config.js';
import {
  ModelAdminServiceDefinition,
  type ModelAdminServiceImplementation,
} from '../gen/customer_intelligence/admin/v1/model_admin.js';
import {
  ScoringServiceDefinition,
  type ScoringServiceImplementation,
} from '../gen/customer_intelligence/scoring/v1/scoring.js';
import {
  GRPCInferenceServiceDefinition,
  type GRPCInferenceServiceImplementation,
} from '../gen/inference/grpc_service.js';
import type { Lifecycle } from '../lifecycle/lifecycle.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import {
  authenticationMiddleware,
  type AuthenticationOptions,
  type PrincipalContext,
} from './middleware/authentication.js';
import { authorizationMiddleware } from './middleware/authorization.js';
import { endOnDrainMiddleware } from './middleware/end-on-drain.js';
import { errorMappingMiddleware } from './middleware/error-mapping.js';
import { lifecycleGateMiddleware } from './middleware/lifecycle-gate.js';
import { loadSheddingMiddleware } from './middleware/load-shedding.js';
import { metricsMiddleware } from './middleware/metrics.js';
import { rateLimitMiddleware } from './middleware/rate-limit.js';
import { requestTimeoutMiddleware } from './middleware/request-timeout.js';
import { tracingMiddleware } from './middleware/tracing.js';

/** The descriptor set `npm run generate` writes for server reflection (grpcurl, Postman, ...). */
const DESCRIPTOR_SET = new URL('../gen/descriptor-set.binpb', import.meta.url);

/** A listening gRPC server. */
export interface GrpcServer {
  /** The bound port (useful with GRPC_PORT=0). */
  readonly port: number;
  /** The bound plaintext health-only port, when HEALTH_PORT is set. */
  readonly healthPort: number | undefined;
  /**
   * Graceful stop: no new connections, GOAWAY to clients, in-flight calls finish; after `graceMs`,
   * whatever still runs is cancelled. Safe to call more than once.
   */
  shutdown(graceMs: number): Promise<void>;
}

/**
 * Builds the gRPC server with its services and middleware, and starts listening.
 *
 * Middleware of the scoring API, outermost first — the order matters:
 * 1. metrics: counts and times every call with the status the client gets;
 * 2. tracing: a server span per call; everything inside runs in its context (log lines carry its ids);
 * 3. error mapping: any thrown value becomes a proper status (and is logged);
 * 4. lifecycle gate: UNAVAILABLE unless serving; counts calls in flight;
 * 5. authentication: API key or JWT → principal (UNAUTHENTICATED otherwise);
 * 6. authorization: the method table's roles (PERMISSION_DENIED otherwise);
 * 7. rate limit: per-principal token bucket (RESOURCE_EXHAUSTED + retry-after);
 * 8. load shedding: global cap on unary calls in flight (RESOURCE_EXHAUSTED);
 * 9. request timeout: caps unary calls at REQUEST_TIMEOUT_MS.
 * The Open Inference Protocol (`inference.GRPCInferenceService`) gets the same chain, sharing the
 * instances (one rate-limit bucket per principal, one in-flight cap for both APIs), except its readiness
 * RPCs: ServerLive, ServerReady and ModelReady skip the lifecycle gate, rate limit, shedding and timeout,
 * so that they answer `false` while starting and draining instead of UNAVAILABLE, like health does.
 * Health and reflection get error mapping, authentication and authorization (both OPEN in the method
 * table; health must answer while starting and draining); health Watch streams end when the server drains.
 */
export async function startGrpcServer(deps: {
  config: Pick<
    Config,
    | 'grpcHost'
    | 'grpcPort'
    | 'maxMessageBytes'
    | 'maxConnectionAgeMs'
    | 'maxConnectionAgeGraceMs'
    | 'requestTimeoutMs'
    | 'security'
    | 'healthPort'
  >;
  credentials: ServerCredentials;
  authentication: Omit<AuthenticationOptions, 'logger'>;
  scoring: ScoringServiceImplementation;
  inference: GRPCInferenceServiceImplementation;
  admin: ModelAdminServiceImplementation<PrincipalContext>;
  health: HealthState;
  lifecycle: Lifecycle;
  logger: Logger;
  metrics: Metrics;
  tracer: Tracer;
}): Promise<GrpcServer> {
  const { config, lifecycle, logger } = deps;
  const errorMapping = errorMappingMiddleware({ logger, lifecycle });
  const authenticate = authenticationMiddleware({ ...deps.authentication, logger });
  const authorize = authorizationMiddleware(logger);
  const server: Server = createServer({
    'grpc.max_receive_message_length': config.maxMessageBytes,
    'grpc.max_send_message_length': config.maxMessageBytes,
    // Connections are recycled so that clients re-resolve and spread over new pods after a scale-out.
    'grpc.max_connection_age_ms': config.maxConnectionAgeMs,
    'grpc.max_connection_age_grace_ms': config.maxConnectionAgeGraceMs,
    'grpc.keepalive_time_ms': 60_000,
    'grpc.keepalive_timeout_ms': 20_000,
  });

  const metrics = metricsMiddleware(deps.metrics);
  const tracing = tracingMiddleware(deps.tracer);
  const lifecycleGate = lifecycleGateMiddleware(lifecycle);
  const rateLimit = rateLimitMiddleware(config.security.rateLimits);
  const shedding = loadSheddingMiddleware(config.security.maxInFlight);
  const timeout = requestTimeoutMiddleware(config.requestTimeoutMs);
  server
    .with(metrics)
    .with(tracing)
    .with(errorMapping)
    .with(lifecycleGate)
    .with(authenticate)
    .with(authorize)
    .with(rateLimit)
    .with(shedding)
    .with(timeout)
    .add(ScoringServiceDefinition, deps.scoring);
  server
    .with(metrics)
    .with(tracing)
    .with(errorMapping)
    .with(lifecycleGate)
    .with(authenticate)
    .with(authorize)
    .with(rateLimit)
    .add(ModelAdminServiceDefinition, deps.admin);
  const { serverLive, serverReady, modelReady, ...inferenceApi } = GRPCInferenceServiceDefinition.methods;
  server
    .with(metrics)
    .with(tracing)
    .with(errorMapping)
    .with(lifecycleGate)
    .with(authenticate)
    .with(authorize)
    .with(rateLimit)
    .with(shedding)
    .with(timeout)
    .add({ ...GRPCInferenceServiceDefinition, methods: inferenceApi }, deps.inference);
  server
    .with(metrics)
    .with(tracing)
    .with(errorMapping)
    .with(authenticate)
    .with(authorize)
    .add(
      { ...GRPCInferenceServiceDefinition, methods: { serverLive, serverReady, modelReady } },
      deps.inference,
    );
  server
    .with(errorMapping)
    .with(authenticate)
    .with(authorize)
    .with(endOnDrainMiddleware(lifecycle))
    .add(HealthDefinition, HealthServiceImpl(deps.health));
  if (config.security.reflectionEnabled) {
    server
      .with(errorMapping)
      .with(authenticate)
      .with(authorize)
      .add(
        ServerReflectionService,
        ServerReflection(await readFile(DESCRIPTOR_SET), [
          ScoringServiceDefinition.fullName,
          GRPCInferenceServiceDefinition.fullName,
          ModelAdminServiceDefinition.fullName,
        ]),
      );
  }

  const port = await server.listen(`${config.grpcHost}:${config.grpcPort}`, deps.credentials);

  // Kubernetes' native gRPC probe cannot speak TLS: with TLS on the main port, probes use this
  // plaintext port, which serves health and nothing else.
  let healthServer: Server | undefined;
  let healthPort: number | undefined;
  if (config.healthPort !== undefined) {
    healthServer = createServer();
    healthServer
      .with(errorMapping)
      .with(endOnDrainMiddleware(lifecycle))
      .add(HealthDefinition, HealthServiceImpl(deps.health));
    healthPort = await healthServer.listen(`${config.grpcHost}:${config.healthPort}`);
  }

  let stopping: Promise<void> | undefined;
  return {
    port,
    healthPort,
    shutdown(graceMs) {
      stopping ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        const graceExpired = new Promise<'expired'>((resolve) => {
          timer = setTimeout(() => resolve('expired'), graceMs);
        });
        const outcome = await Promise.race([server.shutdown().then(() => 'drained' as const), graceExpired]);
        clearTimeout(timer);
        if (outcome === 'expired') {
          logger.warn({ inFlight: lifecycle.inFlight, graceMs }, 'shutdown grace expired; cancelling calls');
          server.forceShutdown();
        }
        healthServer?.forceShutdown();
      })();
      return stopping;
    },
  };
}

import { readFile } from 'node:fs/promises';
import type { ServerCredentials } from '@grpc/grpc-js';
import type { Tracer } from '@opentelemetry/api';
import { createServer, type Server } from 'nice-grpc';
import { composeServerMiddleware, Status } from 'nice-grpc-common';
import { HealthDefinition, HealthServiceImpl, type HealthState } from 'nice-grpc-server-health';
import { ServerReflection, ServerReflectionService } from 'nice-grpc-server-reflection';
import type { Config } from '../config/config.js';
import {
  ModelAdminServiceDefinition,
  type ModelAdminServiceImplementation,
} from '../../../gen/customer_intelligence/admin/v1/model_admin.js';
import {
  ScoringServiceDefinition,
  type ScoringServiceImplementation,
} from '../../../gen/customer_intelligence/scoring/v1/scoring.js';
import {
  GRPCInferenceServiceDefinition,
  type GRPCInferenceServiceImplementation,
} from '../../../gen/inference/grpc_service.js';
import type { Lifecycle } from '../lifecycle/lifecycle.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { earlyAdmission } from './early-admission.js';
import { tolerateMalformedRequests } from './malformed-request.js';
import { admissionMiddleware } from './middleware/admission.js';
import type { CallPlanContext } from './call-plan.js';
import { authenticationGuard, type AuthenticationOptions } from './middleware/authentication-guard.js';
import { authorizationGuard } from './middleware/authorization-guard.js';
import { endOnDrainMiddleware } from './middleware/end-on-drain.js';
import { errorMappingMiddleware } from './middleware/error-mapping.js';
import { lifecycleGuard } from './middleware/lifecycle-guard.js';
import { methodMetrics, metricsMiddleware } from './middleware/metrics.js';
import { rateLimitGuard } from './middleware/rate-limit-guard.js';
import { deadlineGuard } from './middleware/deadline-guard.js';
import { traceContextMiddleware } from './middleware/trace-context.js';
import { tracingMiddleware } from './middleware/tracing.js';
import { boundsCheckedReflection } from './reflection-request-check.js';

/** The descriptor set `npm run generate` writes for server reflection (grpcurl, Postman, ...). */
const DESCRIPTOR_SET = new URL('../../../gen/descriptor-set.binpb', import.meta.url);

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
 * Before any middleware, as the call's headers arrive, a grpc-js interceptor (`early-admission.ts`) sheds
 * unary API calls beyond MAX_IN_FLIGHT (RESOURCE_EXHAUSTED, without decoding the request) and passes the
 * client's deadline on. Middleware of the APIs, outermost first — the order matters:
 * 1. metrics: counts and times every call with the status the client gets (shed calls are counted by the
 *    interceptor);
 * 2. tracing: a server span per call (or, with tracing off, just the caller's trace id);
 * 3. error mapping: any thrown value becomes a proper status (and is logged);
 * 4. admission, one middleware running guards in order: lifecycle (UNAVAILABLE unless serving),
 *    authentication (API key or JWT → principal), authorization (the method table's roles), rate limit
 *    (per-principal token bucket) and the deadline (the client's or REQUEST_TIMEOUT_MS, whichever is
 *    first; already passed → DEADLINE_EXCEEDED, no work done). Separate async-generator middlewares cost
 *    more than the inference itself. Admission then hands the handler its call plan (`call-plan.ts`:
 *    signal, deadline, priority from the method table, principal, trace) as `context.plan`.
 * The V2 readiness RPCs, health and reflection are only authenticated and authorized (they must answer
 * while starting and draining); health Watch streams end when the server drains.
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
    | 'metricsEnabled'
  >;
  credentials: ServerCredentials;
  authentication: Omit<AuthenticationOptions, 'logger'>;
  scoring: ScoringServiceImplementation<CallPlanContext>;
  inference: GRPCInferenceServiceImplementation<CallPlanContext>;
  admin: ModelAdminServiceImplementation<CallPlanContext>;
  health: HealthState;
  lifecycle: Lifecycle;
  logger: Logger;
  metrics: Metrics;
  tracer: Tracer;
  /** Full OpenTelemetry spans; otherwise only the caller's trace id is carried (cheaper). */
  tracingEnabled: boolean;
}): Promise<GrpcServer> {
  const { config, lifecycle, logger } = deps;
  const errorMapping = errorMappingMiddleware({ logger, lifecycle });
  // The V2 readiness RPCs answer while starting and draining, like health, and are never shed.
  const { serverLive, serverReady, modelReady, ...inferenceApi } = GRPCInferenceServiceDefinition.methods;
  const server: Server = createServer({
    'grpc.max_receive_message_length': config.maxMessageBytes,
    'grpc.max_send_message_length': config.maxMessageBytes,
    // Connections are recycled so that clients re-resolve and spread over new pods after a scale-out.
    'grpc.max_connection_age_ms': config.maxConnectionAgeMs,
    'grpc.max_connection_age_grace_ms': config.maxConnectionAgeGraceMs,
    'grpc.keepalive_time_ms': 60_000,
    'grpc.keepalive_timeout_ms': 20_000,
    // No channelz bookkeeping (per-call counters and timestamps on every stream): nothing here reads it, and
    // grpc-js then takes its lighter stream handler.
    'grpc.enable_channelz': 0,
    // Sheds beyond MAX_IN_FLIGHT before a request is decoded, and hands each call's deadline to admission.
    interceptors: [
      earlyAdmission({
        maxInFlight: config.security.maxInFlight,
        requestTimeoutMs: config.requestTimeoutMs,
        shedPaths: unaryPaths(ScoringServiceDefinition, {
          ...GRPCInferenceServiceDefinition,
          methods: inferenceApi,
        }),
        onShed: config.metricsEnabled ? countShed(deps.metrics) : () => undefined,
      }),
    ],
  });

  const tracing = deps.tracingEnabled ? tracingMiddleware(deps.tracer) : traceContextMiddleware;
  // Metrics, tracing and error mapping, outermost first; with METRICS_ENABLED=false no metrics layer at all.
  const tracedAndMapped = composeServerMiddleware(tracing, errorMapping);
  const observed = config.metricsEnabled
    ? composeServerMiddleware(metricsMiddleware(deps.metrics), tracedAndMapped)
    : tracedAndMapped;
  const authenticate = authenticationGuard({ ...deps.authentication, logger });
  const authorize = authorizationGuard(logger);
  // One guard instance each, shared by every API: one rate-limit bucket per principal.
  const lifecycleGate = lifecycleGuard(lifecycle);
  const rateLimit = rateLimitGuard(config.security.rateLimits);
  const deadline = deadlineGuard(config.requestTimeoutMs);
  const api = admissionMiddleware([lifecycleGate, authenticate, authorize, rateLimit, deadline]);
  // Readiness RPCs answer while starting and draining, like health: only who may ask is checked.
  const openEnough = admissionMiddleware([authenticate, authorize]);

  // Every definition gets decoders that never throw: a request that does not decode is answered with
  // INVALID_ARGUMENT by the error mapping instead of grpc-js's INTERNAL (see malformed-request.ts).
  const tolerant = tolerateMalformedRequests;
  server.with(observed).with(api).add(tolerant(ScoringServiceDefinition), deps.scoring);
  server
    .with(observed)
    .with(admissionMiddleware([lifecycleGate, authenticate, authorize, rateLimit]))
    .add(tolerant(ModelAdminServiceDefinition), deps.admin);
  server
    .with(observed)
    .with(api)
    .add(tolerant({ ...GRPCInferenceServiceDefinition, methods: inferenceApi }), deps.inference);
  server
    .with(observed)
    .with(openEnough)
    .add(
      tolerant({ ...GRPCInferenceServiceDefinition, methods: { serverLive, serverReady, modelReady } }),
      deps.inference,
    );
  server
    .with(errorMapping)
    .with(openEnough)
    .with(endOnDrainMiddleware(lifecycle))
    .add(tolerant(HealthDefinition), HealthServiceImpl(deps.health));
  if (config.security.reflectionEnabled) {
    server
      .with(errorMapping)
      .with(openEnough)
      .add(
        tolerant(boundsCheckedReflection(ServerReflectionService)),
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
      .add(tolerant(HealthDefinition), HealthServiceImpl(deps.health));
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

/** Full paths (`/package.Service/Method`) of the unary methods of `definitions`. */
function unaryPaths(
  ...definitions: ReadonlyArray<{
    fullName: string;
    methods: Record<string, { name: string; requestStream: boolean; responseStream: boolean }>;
  }>
): Set<string> {
  return new Set(
    definitions.flatMap((definition) =>
      Object.values(definition.methods)
        .filter((method) => !method.requestStream && !method.responseStream)
        .map((method) => `/${definition.fullName}/${method.name}`),
    ),
  );
}

/** Counts a call shed by the interceptor as the metrics middleware would have: started, and handled. */
function countShed(metrics: Metrics): (path: string) => void {
  const metricsOf = methodMetrics(metrics);
  return (path) => {
    const method = metricsOf(path, false, false); // only unary calls are shed
    method.started.inc();
    method.handled(Status.RESOURCE_EXHAUSTED).inc();
  };
}

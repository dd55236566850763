import { readFile } from 'node:fs/promises';
import type { ServerCredentials } from '@grpc/grpc-js';
import type { Tracer } from '@opentelemetry/api';
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
import type { PrincipalLimits } from '../security/principal-limits.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { callPipeline, type CallStages } from './call-pipeline.js';
import { GrpcHost } from './grpc-host.js';
import type { CallPlanContext } from './call-plan.js';
import { earlyAdmission } from './early-admission.js';
import { endOnDrainMiddleware } from './end-on-drain.js';
import { tolerateMalformedRequests } from './malformed-request.js';
import { admission, type GuardedCall } from './stages/admission.js';
import { authenticationGuard, type AuthenticationOptions } from './stages/authentication-guard.js';
import { authorizationGuard } from './stages/authorization-guard.js';
import { deadlineGuard } from './stages/deadline-guard.js';
import { errorMapper } from './stages/error-mapping.js';
import { lifecycleGuard } from './stages/lifecycle-guard.js';
import { callMeter, methodMetrics } from './stages/metrics.js';
import { rateLimitGuard } from './stages/rate-limit-guard.js';
import { callerTrace } from './stages/trace-context.js';
import { serverSpans } from './stages/tracing.js';
import { boundsCheckedReflection } from './reflection-request-check.js';
import { OPEN, rolesFor } from '../security/method-roles.js';

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
 * As the call's headers arrive, a grpc-js interceptor (`early-admission.ts`) sheds unary API calls beyond
 * MAX_IN_FLIGHT (RESOURCE_EXHAUSTED, without decoding the request) and passes the client's deadline on.
 * Then every RPC takes the call pipeline (`call-pipeline.ts`, hosted by `grpc-host.ts`), configured per
 * service with its stages (`stages/`):
 * - the APIs are metered (status the client gets, duration) and traced (a server span, or with tracing off
 *   just the caller's trace id); health and reflection are not;
 * - admission runs guards in order: lifecycle (UNAVAILABLE unless serving), authentication (API key or JWT
 *   → principal), authorization (the method table's roles), rate limit (per-principal token bucket) and
 *   the deadline (the client's or REQUEST_TIMEOUT_MS, whichever is first; already passed →
 *   DEADLINE_EXCEEDED, no work done), and hands the handler its call plan (`call-plan.ts`: signal,
 *   deadline, priority from the method table, principal, trace) as `context.plan`. The admin API has no
 *   deadline guard; the V2 readiness RPCs, health and reflection are only authenticated and authorized
 *   (they must answer while starting and draining);
 * - whatever is thrown becomes a proper status through the error mapping.
 * Health Watch streams end when the server drains.
 */
export async function startGrpcServer(deps: {
  config: Pick<
    Config,
    | 'grpcHost'
    | 'grpcPort'
    | 'maxMessageBytes'
    | 'maxModelMessageBytes'
    | 'maxStreams'
    | 'maxConnectionAgeMs'
    | 'maxConnectionAgeGraceMs'
    | 'requestTimeoutMs'
    | 'security'
    | 'healthPort'
    | 'metricsEnabled'
  >;
  credentials: ServerCredentials;
  authentication: Omit<AuthenticationOptions, 'logger'>;
  /** Per-principal rate and stream limits (`security/principal-limits.ts`), shared with the scoring streams. */
  limits: PrincipalLimits;
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
  const mapError = errorMapper({ logger, lifecycle });
  // The V2 readiness RPCs answer while starting and draining, like health, and are never shed.
  const { serverLive, serverReady, modelReady, ...inferenceApi } = GRPCInferenceServiceDefinition.methods;
  const authenticate = authenticationGuard({ ...deps.authentication, logger });
  const authorize = authorizationGuard(logger);
  const server = new GrpcHost({
    // grpc-js's own limit, the largest of all; each call is held to its method's (`messageLimit`) below.
    'grpc.max_receive_message_length': Math.max(config.maxMessageBytes, config.maxModelMessageBytes),
    'grpc.max_send_message_length': config.maxMessageBytes,
    // Connections are recycled so that clients re-resolve and spread over new pods after a scale-out.
    'grpc.max_connection_age_ms': config.maxConnectionAgeMs,
    'grpc.max_connection_age_grace_ms': config.maxConnectionAgeGraceMs,
    'grpc.keepalive_time_ms': 60_000,
    'grpc.keepalive_timeout_ms': 20_000,
    // No channelz bookkeeping (per-call counters and timestamps on every stream): nothing here reads it, and
    // grpc-js then takes its lighter stream handler.
    'grpc.enable_channelz': 0,
    // Before a request is read: sheds beyond MAX_IN_FLIGHT, caps open streams, authenticates and
    // authorizes, and holds each method to its message size.
    interceptors: [
      earlyAdmission({
        maxInFlight: config.security.maxInFlight,
        maxStreams: config.maxStreams,
        requestTimeoutMs: config.requestTimeoutMs,
        shedPaths: unaryPaths(ScoringServiceDefinition, {
          ...GRPCInferenceServiceDefinition,
          methods: inferenceApi,
        }),
        identify: deps.authentication.mode === 'none' ? undefined : { authenticate, authorize },
        messageLimit: messageLimits(config),
        onRefused: config.metricsEnabled ? countRefused(deps.metrics) : () => undefined,
      }),
    ],
  });

  // One guard instance each, shared by every API: one rate-limit bucket per principal.
  const lifecycleGate = lifecycleGuard(lifecycle);
  const rateLimit = rateLimitGuard(deps.limits);
  const deadline = deadlineGuard(config.requestTimeoutMs);
  // The APIs are metered and traced; health and reflection only have their errors mapped.
  const observed: Omit<CallStages, 'admit'> = {
    meter: config.metricsEnabled ? callMeter(deps.metrics) : undefined,
    trace: deps.tracingEnabled ? serverSpans(deps.tracer) : callerTrace,
    mapError,
  };
  const unobserved: Omit<CallStages, 'admit'> = { meter: undefined, trace: callerTrace, mapError };
  const api = callPipeline({
    ...observed,
    admit: admission([lifecycleGate, authenticate, authorize, rateLimit, deadline]),
  });
  // Readiness RPCs answer while starting and draining, like health: only who may ask is checked.
  const openEnough = admission([authenticate, authorize]);

  // Every definition gets decoders that never throw: a request that does not decode is answered with
  // INVALID_ARGUMENT by the pipeline instead of grpc-js's INTERNAL (see malformed-request.ts).
  const tolerant = tolerateMalformedRequests;
  server.add(tolerant(ScoringServiceDefinition), deps.scoring, { pipeline: api });
  server.add(tolerant(ModelAdminServiceDefinition), deps.admin, {
    pipeline: callPipeline({
      ...observed,
      admit: admission([lifecycleGate, authenticate, authorize, rateLimit]),
    }),
  });
  server.add(tolerant({ ...GRPCInferenceServiceDefinition, methods: inferenceApi }), deps.inference, {
    pipeline: api,
  });
  server.add(
    tolerant({ ...GRPCInferenceServiceDefinition, methods: { serverLive, serverReady, modelReady } }),
    deps.inference,
    { pipeline: callPipeline({ ...observed, admit: openEnough }) },
  );
  const health = {
    pipeline: callPipeline({ ...unobserved, admit: openEnough }),
    streams: endOnDrainMiddleware(lifecycle),
  };
  server.add(tolerant(HealthDefinition), HealthServiceImpl(deps.health), health);
  if (config.security.reflectionEnabled) {
    server.add(
      tolerant(boundsCheckedReflection(ServerReflectionService)),
      ServerReflection(await readFile(DESCRIPTOR_SET), [
        ScoringServiceDefinition.fullName,
        GRPCInferenceServiceDefinition.fullName,
        ModelAdminServiceDefinition.fullName,
      ]),
      { pipeline: callPipeline({ ...unobserved, admit: openEnough }) },
    );
  }

  const port = await server.listen(`${config.grpcHost}:${config.grpcPort}`, deps.credentials);

  // Kubernetes' native gRPC probe cannot speak TLS: with TLS on the main port, probes use this
  // plaintext port, which serves health and nothing else.
  let healthServer: GrpcHost | undefined;
  let healthPort: number | undefined;
  if (config.healthPort !== undefined) {
    healthServer = new GrpcHost();
    // Health is OPEN in the method table: the authentication guard admits it as the anonymous principal.
    healthServer.add(tolerant(HealthDefinition), HealthServiceImpl(deps.health), health);
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

/** Requests of health checks, reflection and the V2 readiness RPCs are small; anyone may send them. */
const OPEN_MESSAGE_BYTES = 64 * 1024;

/** The largest request each method takes: a model's bytes, the API's requests, or a small open one. */
function messageLimits(
  config: Pick<Config, 'maxMessageBytes' | 'maxModelMessageBytes'>,
): (path: string) => number {
  const registerPath = `/${ModelAdminServiceDefinition.fullName}/${ModelAdminServiceDefinition.methods.registerModelVersion.name}`;
  return (path) =>
    path === registerPath
      ? config.maxModelMessageBytes
      : rolesFor(path) === OPEN
        ? Math.min(OPEN_MESSAGE_BYTES, config.maxMessageBytes)
        : config.maxMessageBytes;
}

/**
 * Counts a call the interceptor refused as the call meter would have: started, and handled with its code.
 * Health and reflection, which the meter does not see, are not counted either.
 */
function countRefused(metrics: Metrics): (call: GuardedCall, code: number) => void {
  const metricsOf = methodMetrics(metrics);
  return ({ method: { path }, requestStream, responseStream }, code) => {
    if (path.startsWith('/grpc.')) return;
    const method = metricsOf(path, requestStream, responseStream);
    method.started.inc();
    method.handled(code).inc();
  };
}

import { diag, DiagLogLevel, trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  NodeTracerProvider,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { Logger } from './logger.js';

/** The process's tracing: a tracer (a no-op one when tracing is off) and a flush-and-stop. */
export interface Tracing {
  readonly tracer: Tracer;
  readonly enabled: boolean;
  /** Flushes pending spans and stops exporting; safe to call more than once. */
  shutdown(): Promise<void>;
}

/**
 * Starts OpenTelemetry tracing. With an OTLP endpoint configured, spans are batched and exported over
 * OTLP/gRPC (Jaeger ingests it directly), W3C trace context is propagated (`traceparent` metadata), and
 * new traces are sampled at `sampleRatio` while calls whose caller sampled are always traced.
 *
 * Exporting is off the request path: the batch processor drops spans rather than block when the
 * collector is slow or down, and exporter errors are logged at debug level only.
 */
export function startTracing(options: {
  endpoint: string | undefined;
  sampleRatio: number;
  serviceName: string;
  logger: Logger;
}): Tracing {
  if (options.endpoint === undefined) {
    // No context manager either: on Node 20 AsyncLocalStorage puts a hook on every promise. The caller's
    // trace id still reaches log lines and audit rows through `trace-context.ts`.
    return { tracer: trace.getTracer(options.serviceName), enabled: false, shutdown: async () => undefined };
  }
  const log = options.logger.child({ component: 'tracing' });
  diag.setLogger(
    {
      error: (message, ...args) => log.debug({ args }, message),
      warn: (message, ...args) => log.debug({ args }, message),
      info: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
    },
    DiagLogLevel.WARN,
  );
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio) }),
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ url: options.endpoint }), {
        maxQueueSize: 4_096,
        scheduledDelayMillis: 1_000,
      }),
    ],
  });
  // Registers the AsyncLocalStorage context manager and the W3C trace-context propagator globally.
  provider.register();
  log.info({ endpoint: options.endpoint, sampleRatio: options.sampleRatio }, 'tracing to OTLP');
  let stopping: Promise<void> | undefined;
  return {
    tracer: trace.getTracer(options.serviceName),
    enabled: true,
    shutdown() {
      stopping ??= provider
        .shutdown()
        .catch((error: unknown) => log.debug({ err: error }, 'trace flush failed'));
      return stopping;
    },
  };
}

import { ServerError, Status, type CallContext, type ServerMiddlewareCall } from 'nice-grpc-common';
import type { Metrics } from '../../telemetry/metrics.js';

/** The metric children of one method, resolved once (prom-client's label lookup is not free per call). */
interface MethodMetrics {
  readonly started: { inc(): void };
  readonly duration: { observe(seconds: number): void };
  readonly handled: (code: Status) => { inc(): void };
}

/**
 * Counts every call (started, handled by status code), times it from start to status and tracks the
 * calls in flight. Runs outermost, so the time includes every other middleware and the code is the one
 * the client receives.
 */
export function metricsMiddleware(metrics: Metrics) {
  const byPath = new Map<string, MethodMetrics>();
  const metricsOf = (path: string, requestStream: boolean, responseStream: boolean): MethodMetrics => {
    let resolved = byPath.get(path);
    if (resolved === undefined) {
      const [, service = '', method = ''] = path.split('/');
      const type = requestStream
        ? responseStream
          ? 'bidi_stream'
          : 'client_stream'
        : responseStream
          ? 'server_stream'
          : 'unary';
      const labels = { grpc_service: service, grpc_method: method, grpc_type: type };
      const handledByCode = new Map<Status, { inc(): void }>();
      resolved = {
        started: metrics.grpcStarted.labels(labels),
        duration: metrics.grpcHandlingSeconds.labels(labels),
        handled: (code) => {
          let child = handledByCode.get(code);
          if (child === undefined) {
            child = metrics.grpcHandled.labels({ ...labels, grpc_code: Status[code] });
            handledByCode.set(code, child);
          }
          return child;
        },
      };
      byPath.set(path, resolved);
    }
    return resolved;
  };

  return async function* countAndTime<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ) {
    const method = metricsOf(call.method.path, call.requestStream, call.responseStream);
    const started = performance.now();
    method.started.inc();
    metrics.inFlight.inc();
    let code = Status.OK;
    try {
      return yield* call.next(call.request, context);
    } catch (error) {
      code = error instanceof ServerError ? error.code : Status.UNKNOWN;
      throw error;
    } finally {
      metrics.inFlight.dec();
      method.duration.observe((performance.now() - started) / 1000);
      method.handled(code).inc();
    }
  };
}

import { ServerError, Status, type CallContext, type ServerMiddlewareCall } from 'nice-grpc-common';
import type { Metrics } from '../../telemetry/metrics.js';

interface MethodLabels {
  readonly grpc_service: string;
  readonly grpc_method: string;
  readonly grpc_type: string;
}

/**
 * Counts every call (started, handled by status code), times it from start to status and tracks the
 * calls in flight. Runs outermost, so the time includes every other middleware and the code is the one
 * the client receives.
 */
export function metricsMiddleware(metrics: Metrics) {
  const labelsByPath = new Map<string, MethodLabels>();
  const labelsOf = (path: string, requestStream: boolean, responseStream: boolean): MethodLabels => {
    let labels = labelsByPath.get(path);
    if (labels === undefined) {
      const [, service = '', method = ''] = path.split('/');
      const type = requestStream
        ? responseStream
          ? 'bidi_stream'
          : 'client_stream'
        : responseStream
          ? 'server_stream'
          : 'unary';
      labels = { grpc_service: service, grpc_method: method, grpc_type: type };
      labelsByPath.set(path, labels);
    }
    return labels;
  };

  return async function* countAndTime<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ) {
    const labels = labelsOf(call.method.path, call.requestStream, call.responseStream);
    const stopTimer = metrics.grpcHandlingSeconds.startTimer(labels);
    metrics.grpcStarted.inc(labels);
    metrics.inFlight.inc();
    let code = Status.OK;
    try {
      return yield* call.next(call.request, context);
    } catch (error) {
      code = error instanceof ServerError ? error.code : Status.UNKNOWN;
      throw error;
    } finally {
      metrics.inFlight.dec();
      stopTimer();
      metrics.grpcHandled.inc({ ...labels, grpc_code: Status[code] });
    }
  };
}

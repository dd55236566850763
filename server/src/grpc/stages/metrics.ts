import { Status } from 'nice-grpc-common';
import type { Metrics } from '../../telemetry/metrics.js';
import type { GuardedCall } from './admission.js';

/** The metric children of one method, resolved once (prom-client's label lookup is not free per call). */
interface MethodMetrics {
  readonly started: { inc(): void };
  readonly duration: { observe(seconds: number): void };
  readonly handled: (code: Status) => { inc(): void };
}

/**
 * Resolves a method's metric children by path, caching them: what the call meter counts with, and
 * what the early-admission interceptor counts its refusals with.
 */
export function methodMetrics(
  metrics: Metrics,
): (path: string, requestStream: boolean, responseStream: boolean) => MethodMetrics {
  const byPath = new Map<string, MethodMetrics>();
  return (path, requestStream, responseStream) => {
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
}

/** What the pipeline calls when a call ends, with the status the client gets. */
export type CallEnded = (code: Status) => void;

/**
 * Counts every call (started, handled by status code), times it from start to status and tracks the
 * calls in flight. The pipeline starts it first and ends it last, so the time includes every other stage
 * and the code is the one the client receives.
 */
export function callMeter(metrics: Metrics): (call: GuardedCall) => CallEnded {
  const metricsOf = methodMetrics(metrics);
  return (call) => {
    const method = metricsOf(call.method.path, call.requestStream, call.responseStream);
    const started = performance.now();
    method.started.inc();
    metrics.inFlight.inc();
    return (code) => {
      metrics.inFlight.dec();
      method.duration.observe((performance.now() - started) / 1000);
      method.handled(code).inc();
    };
  };
}

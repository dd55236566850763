import { Status } from 'nice-grpc-common';
import type { Metrics } from '../../telemetry/metrics.js';
import { Tallies, type Tally } from '../../telemetry/tally.js';
import type { GuardedCall } from './admission.js';

/** The metrics of one method, resolved once. */
interface MethodMetrics {
  readonly started: Tally;
  readonly duration: { observe(seconds: number): void };
  readonly handled: (code: Status) => Tally;
}

type MethodMetricsOf = (path: string, requestStream: boolean, responseStream: boolean) => MethodMetrics;
const resolvers = new WeakMap<Metrics, MethodMetricsOf>();

/**
 * Resolves a method's metrics by path, caching them: what the call meter counts with, and what the
 * early-admission interceptor counts its refusals with (one cache per server's metrics, shared by both).
 */
export function methodMetrics(metrics: Metrics): MethodMetricsOf {
  let resolve = resolvers.get(metrics);
  if (resolve === undefined) {
    resolve = methodMetricsResolver(metrics);
    resolvers.set(metrics, resolve);
  }
  return resolve;
}

function methodMetricsResolver(metrics: Metrics): MethodMetricsOf {
  const byPath = new Map<string, MethodMetrics>();
  const tallies = new Tallies(metrics);
  const tally = (counter: { inc(value: number): void }) => tallies.of(counter);
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
      const handledByCode = new Map<Status, Tally>();
      resolved = {
        started: tally(metrics.grpcStarted.labels(labels)),
        duration: metrics.grpcHandlingSeconds.labels(labels),
        handled: (code) => {
          let counter = handledByCode.get(code);
          if (counter === undefined) {
            counter = tally(metrics.grpcHandled.labels({ ...labels, grpc_code: Status[code] }));
            handledByCode.set(code, counter);
          }
          return counter;
        },
      };
      byPath.set(path, resolved);
    }
    return resolved;
  };
}

/** Ends a metered call with the status the client got. */
export type CallEnded = (code: Status) => void;

/**
 * Counts every call (started, handled by status code), times it from start to status and tracks the
 * calls in flight. The pipeline starts it first and ends it last, so the time includes every other stage
 * and the code is the one the client receives. One per server: it owns `ci_in_flight_requests`.
 */
export function callMeter(metrics: Metrics): (call: GuardedCall) => CallEnded {
  const metricsOf = methodMetrics(metrics);
  // The gauge is set from this count before each scrape, like the tallies.
  let inFlight = 0;
  metrics.addSampler(() => metrics.inFlight.set(inFlight));
  return (call) => {
    const method = metricsOf(call.method.path, call.requestStream, call.responseStream);
    const started = performance.now();
    method.started.inc();
    inFlight++;
    return (code) => {
      inFlight--;
      method.duration.observe((performance.now() - started) / 1000);
      method.handled(code).inc();
    };
  };
}

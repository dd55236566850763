import {
  context as otelContext,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import { Status, type Metadata } from 'nice-grpc-common';
import type { TraceStage } from './trace-context.js';

const metadataGetter = {
  keys: (carrier: Metadata) => [...carrier].map(([key]) => key),
  get: (carrier: Metadata, key: string) => {
    const value = carrier.get(key);
    return typeof value === 'string' ? value : undefined;
  },
};

/**
 * Opens a server span per call, continuing the caller's W3C trace (`traceparent` metadata); the pipeline
 * runs each step of the handler inside it (`run`), so child spans (feature fetch, inference) and log lines
 * carry its ids. Stepping inside `context.with(...)` rather than delegating with `yield*`: a generator
 * resumes in its caller's async context, so a plain delegation would run the handler outside the span.
 */
export function serverSpans(tracer: Tracer): TraceStage {
  return (call, context) => {
    const parent = propagation.extract(otelContext.active(), context.metadata, metadataGetter);
    const [, service = '', method = ''] = call.method.path.split('/');
    const span = tracer.startSpan(
      `${service}/${method}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'rpc.system': 'grpc',
          'rpc.service': service,
          'rpc.method': method,
          'net.peer.name': context.peer,
        },
      },
      parent,
    );
    const active = trace.setSpan(parent, span);
    const { traceId, spanId } = span.spanContext();
    return {
      trace: { traceId, spanId },
      run: (step) => otelContext.with(active, step),
      end(code, error) {
        span.setAttribute('rpc.grpc.status_code', code);
        if (code !== Status.OK) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: error?.details ?? Status[code] });
        }
        span.end();
      },
    };
  };
}

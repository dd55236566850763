import {
  context as otelContext,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import {
  ServerError,
  Status,
  type CallContext,
  type Metadata,
  type ServerMiddlewareCall,
} from 'nice-grpc-common';
import type { TraceContext } from './trace-context.js';

const metadataGetter = {
  keys: (carrier: Metadata) => [...carrier].map(([key]) => key),
  get: (carrier: Metadata, key: string) => {
    const value = carrier.get(key);
    return typeof value === 'string' ? value : undefined;
  },
};

/**
 * Opens a server span per call, continuing the caller's W3C trace (`traceparent` metadata), and runs
 * the rest of the call inside it, so child spans (feature fetch, inference) and log lines carry its ids.
 *
 * The inner handler is driven step by step inside `context.with(...)` instead of `yield*`: a generator
 * resumes in its caller's async context, so a plain delegation would run the handler outside the span.
 */
export function tracingMiddleware(tracer: Tracer) {
  return async function* traceCall<Request, Response>(
    call: ServerMiddlewareCall<Request, Response, TraceContext>,
    context: CallContext,
  ) {
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
    const inner = call.next(call.request, { ...context, trace: { traceId, spanId } });
    try {
      let input: unknown = undefined;
      for (;;) {
        const step = await otelContext.with(active, () => inner.next(input as undefined));
        if (step.done) {
          span.setAttribute('rpc.grpc.status_code', Status.OK);
          return step.value;
        }
        input = yield step.value;
      }
    } catch (error) {
      const code = error instanceof ServerError ? error.code : Status.UNKNOWN;
      span.setAttribute('rpc.grpc.status_code', code);
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: error instanceof ServerError ? error.details : String(error),
      });
      throw error;
    } finally {
      await inner.return(undefined as never).catch(() => undefined);
      span.end();
    }
  };
}

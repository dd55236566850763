import { context, propagation } from '@opentelemetry/api';
import { Metadata, type CallOptions, type ClientMiddlewareCall } from 'nice-grpc-common';

const setter = {
  set: (carrier: Metadata, key: string, value: string) => carrier.set(key, value),
};

/**
 * Client middleware that sends the active OpenTelemetry context as W3C `traceparent`/`tracestate`
 * metadata, so the server's spans join the caller's trace (a batch run and the server work it causes
 * share traces). Without an OpenTelemetry SDK in the process it sends nothing.
 */
export async function* traceContextMiddleware<Request, Response>(
  call: ClientMiddlewareCall<Request, Response>,
  options: CallOptions,
) {
  const metadata = Metadata(options.metadata);
  propagation.inject(context.active(), metadata, setter);
  return yield* call.next(call.request, { ...options, metadata });
}

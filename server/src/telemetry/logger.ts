import { context, trace } from '@opentelemetry/api';
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Creates the process logger: one JSON object per line on stdout, with `service` on every line and the
 * `trace_id`/`span_id` of the call being handled, when there is one (so logs and traces join up).
 * Secrets never reach it: connection strings and credentials are redacted by path as a second guard.
 */
export function createLogger(options: { level: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'customer-intelligence' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin() {
        const span = trace.getSpanContext(context.active());
        return span === undefined ? {} : { trace_id: span.traceId, span_id: span.spanId };
      },
      redact: {
        paths: ['databaseUrl', 'databaseReadUrl', '*.databaseUrl', '*.password', 'password', 'authorization'],
        censor: '[redacted]',
      },
    },
    options.destination,
  );
}

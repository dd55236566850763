import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Creates the process logger: one JSON object per line on stdout, with `service` on every line.
 * Secrets never reach it: connection strings and credentials are redacted by path as a second guard.
 */
export function createLogger(options: { level: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'customer-intelligence' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ['databaseUrl', 'databaseReadUrl', '*.databaseUrl', '*.password', 'password', 'authorization'],
        censor: '[redacted]',
      },
    },
    options.destination,
  );
}

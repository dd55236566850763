import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/** The HTTP endpoint Prometheus scrapes, on its own port (so it is never behind gRPC auth or load). */
export interface MetricsServer {
  readonly port: number;
  /** Stops listening; safe to call more than once. */
  close(): Promise<void>;
}

/** Serves `GET /metrics` in the Prometheus text format; everything else is 404. */
export async function startMetricsServer(deps: {
  metrics: Metrics;
  host: string;
  port: number;
  logger: Logger;
}): Promise<MetricsServer> {
  const { metrics, logger } = deps;
  const server = http.createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try GET /metrics\n');
      return;
    }
    metrics.render().then(
      (body) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
      (error: unknown) => {
        logger.error({ err: error }, 'rendering metrics failed');
        response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(deps.port, deps.host, resolve);
  });
  let closing: Promise<void> | undefined;
  return {
    port: (server.address() as AddressInfo).port,
    close() {
      closing ??= new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      return closing;
    },
  };
}

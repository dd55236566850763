import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { freePort } from './free-port.js';
import { toolPath } from './tools.js';

/** A real Jaeger (v2, built from the Go module proxy by scripts/tools.sh) with in-memory storage. */
export interface Jaeger {
  /** Where the server exports spans (`OTEL_EXPORTER_OTLP_ENDPOINT`, OTLP over gRPC). */
  readonly otlpEndpoint: string;
  /** Base URL of the query HTTP API (`/api/services`, `/api/traces/<id>`). */
  readonly queryUrl: string;
  /** Stops Jaeger and removes its config folder. */
  stop(): Promise<void>;
}

/**
 * Starts Jaeger on free 127.0.0.1 ports and waits until its query API answers.
 *
 * @param options.maxTraces traces kept in memory. @default 20000
 * @throws Error when the query API does not answer within `timeoutMs` (default 20 s).
 */
export async function startJaeger(options: { maxTraces?: number; timeoutMs?: number } = {}): Promise<Jaeger> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ci-jaeger-'));
  const [otlpPort, queryHttpPort, queryGrpcPort] = [await freePort(), await freePort(), await freePort()];
  const config = {
    service: {
      extensions: ['jaeger_storage', 'jaeger_query'],
      pipelines: {
        traces: { receivers: ['otlp'], processors: ['batch'], exporters: ['jaeger_storage_exporter'] },
      },
      telemetry: { metrics: { level: 'none' }, logs: { level: 'warn' } },
    },
    extensions: {
      jaeger_storage: { backends: { memory_store: { memory: { max_traces: options.maxTraces ?? 20_000 } } } },
      jaeger_query: {
        storage: { traces: 'memory_store' },
        http: { endpoint: `127.0.0.1:${queryHttpPort}` },
        grpc: { endpoint: `127.0.0.1:${queryGrpcPort}` },
      },
    },
    receivers: { otlp: { protocols: { grpc: { endpoint: `127.0.0.1:${otlpPort}` } } } },
    processors: { batch: { timeout: '200ms' } },
    exporters: { jaeger_storage_exporter: { trace_storage: 'memory_store' } },
  };
  await writeFile(path.join(dir, 'jaeger.yaml'), stringify(config));
  const child = spawn(toolPath('jaeger'), ['--config', path.join(dir, 'jaeger.yaml')], { stdio: 'ignore' });
  const jaeger: Jaeger = {
    otlpEndpoint: `http://127.0.0.1:${otlpPort}`,
    queryUrl: `http://127.0.0.1:${queryHttpPort}`,
    async stop() {
      child.kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  while (
    !(await fetch(`${jaeger.queryUrl}/api/services`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (Date.now() > deadline || child.exitCode !== null) {
      await jaeger.stop();
      throw new Error(`Jaeger's query API did not answer (exit code ${String(child.exitCode)})`);
    }
    await sleep(200);
  }
  return jaeger;
}

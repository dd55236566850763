import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../../test/helpers/free-port.js';
import { toolPath } from '../../test/helpers/tools.js';
import { measure, startServer, stop, table, write, type Row } from '../perf/harness.js';
import { inlineRequest, SCORE, SCORING } from '../perf/scenarios.js';

export async function observability(databaseUrl: string): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ci-bench-jaeger-'));
  const [otlpPort, queryPort] = [await freePort(), await freePort()];
  await writeFile(
    path.join(dir, 'jaeger.yaml'),
    stringify({
      service: {
        extensions: ['jaeger_storage', 'jaeger_query'],
        pipelines: {
          traces: { receivers: ['otlp'], processors: ['batch'], exporters: ['jaeger_storage_exporter'] },
        },
        telemetry: { metrics: { level: 'none' }, logs: { level: 'warn' } },
      },
      extensions: {
        jaeger_storage: { backends: { memory_store: { memory: { max_traces: 20_000 } } } },
        jaeger_query: {
          storage: { traces: 'memory_store' },
          http: { endpoint: `127.0.0.1:${queryPort}` },
          grpc: { endpoint: `127.0.0.1:${await freePort()}` },
        },
      },
      receivers: { otlp: { protocols: { grpc: { endpoint: `127.0.0.1:${otlpPort}` } } } },
      processors: { batch: {} },
      exporters: { jaeger_storage_exporter: { trace_storage: 'memory_store' } },
    }),
  );
  const jaeger = spawn(toolPath('jaeger'), ['--config', path.join(dir, 'jaeger.yaml')], { stdio: 'ignore' });
  const rows: Row[] = [];
  try {
    const variants: Array<[string, Record<string, string>]> = [
      ['metrics off, tracing off', { METRICS_ENABLED: 'false' }],
      ['metrics on, tracing off', {}],
      [
        'metrics on, tracing 100 % to Jaeger',
        { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}`, TRACE_SAMPLE_RATIO: '1' },
      ],
      [
        'metrics on, tracing 10 % to Jaeger',
        { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}`, TRACE_SAMPLE_RATIO: '0.1' },
      ],
    ];
    for (const [name, env] of variants) {
      const { server, address } = await startServer(databaseUrl, env);
      for (const concurrency of [1, 50]) {
        rows.push(
          await measure(
            name,
            server.child.pid!,
            'Score inline',
            { address, call: SCORE, proto: SCORING, data: inlineRequest },
            concurrency,
          ),
        );
      }
      await stop(server);
    }
  } finally {
    jaeger.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
  await write(
    'observability',
    { date: new Date().toISOString(), rows },
    `# Cost of metrics and tracing (${new Date().toISOString()})\n\n${table(rows)}\n`,
  );
}

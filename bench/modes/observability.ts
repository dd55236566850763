import { startJaeger } from '../../test/helpers/jaeger.js';
import { measure, startServer, stop, table, write, type Row } from '../perf/harness.js';
import { inlineRequest, SCORE, SCORING } from '../perf/scenarios.js';

export async function observability(databaseUrl: string): Promise<void> {
  const jaeger = await startJaeger();
  const rows: Row[] = [];
  try {
    const variants: Array<[string, Record<string, string>]> = [
      ['metrics off, tracing off', { METRICS_ENABLED: 'false' }],
      ['metrics on, tracing off', {}],
      [
        'metrics on, tracing 100 % to Jaeger',
        { OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpEndpoint, TRACE_SAMPLE_RATIO: '1' },
      ],
      [
        'metrics on, tracing 10 % to Jaeger',
        { OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpEndpoint, TRACE_SAMPLE_RATIO: '0.1' },
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
    await jaeger.stop();
  }
  await write(
    'observability',
    { date: new Date().toISOString(), rows },
    `# Cost of metrics and tracing (${new Date().toISOString()})\n\n${table(rows)}\n`,
  );
}

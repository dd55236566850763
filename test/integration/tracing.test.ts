import { randomBytes } from 'node:crypto';
import { Metadata } from 'nice-grpc';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createScoringClient } from '../../client/src/scoring-client.js';
import { freePort } from '../helpers/free-port.js';
import { startJaeger, type Jaeger } from '../helpers/jaeger.js';
import { spawnServer, type ServerProcess } from '../helpers/server-process.js';
import { cloneDatabase, dropDatabase } from '../helpers/test-postgres.js';

// A real Jaeger (v2, built from the Go module proxy by scripts/tools.sh) receives the server's OTLP spans;
// the test reads them back through Jaeger's query API.
const database = `test_trace_${randomBytes(4).toString('hex')}`;
let jaeger: Jaeger;
let databaseUrl: string;

interface JaegerSpan {
  spanID: string;
  operationName: string;
  references: Array<{ refType: string; spanID: string; traceID: string }>;
}

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

beforeAll(async () => {
  databaseUrl = await cloneDatabase(inject('postgresUrl'), inject('templateDatabase'), database);
  jaeger = await startJaeger({ maxTraces: 10_000 });
}, 60_000);

afterAll(async () => {
  await jaeger?.stop();
  await dropDatabase(inject('postgresUrl'), database);
});

async function withServer(
  env: Record<string, string>,
  body: (server: ServerProcess, address: string) => Promise<void>,
) {
  const server = spawnServer({ DATABASE_URL: databaseUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', ...env });
  try {
    const serving = await server.waitForLog('serving');
    await body(server, `127.0.0.1:${String(serving.port)}`);
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

const traceparent = () => {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, header: `00-${traceId}-${spanId}-01` };
};

describe('tracing', () => {
  it('exports a server span per call, continuing the caller trace, with feature and inference children', async () => {
    const ok = traceparent();
    const rejected = traceparent();
    await withServer(
      { OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpEndpoint, TRACE_SAMPLE_RATIO: '0', LOG_LEVEL: 'debug' },
      async (server, address) => {
        const client = createScoringClient(address, { retry: false });
        try {
          await client.score(
            {
              model: 'churn',
              modelVersion: '',
              customers: [{ customerId: '8', features: {} }],
              reasonCodes: 1,
            },
            { metadata: Metadata({ traceparent: ok.header }) },
          );
          await client
            .score(
              { model: 'churn', modelVersion: '', customers: [], reasonCodes: 0 },
              { metadata: Metadata({ traceparent: rejected.header }) },
            )
            .catch(() => undefined);
        } finally {
          client.close();
        }
        // The log line of the rejected call carries its trace id.
        const line = await server.waitForLog('call rejected');
        expect(line.trace_id).toBe(rejected.traceId);
      },
    );

    // TRACE_SAMPLE_RATIO=0 samples no new trace, but a sampled caller's trace is always continued.
    const spans = await waitFor(async () => {
      const response = await fetch(`${jaeger.queryUrl}/api/traces/${ok.traceId}`);
      if (!response.ok) return undefined;
      const body = (await response.json()) as { data: Array<{ spans: JaegerSpan[] }> };
      const found = body.data[0]?.spans ?? [];
      return found.length >= 3 ? found : undefined;
    }, `trace ${ok.traceId} in Jaeger`);
    const server = spans.find(
      (s) => s.operationName === 'customer_intelligence.scoring.v1.ScoringService/Score',
    );
    expect(server?.references).toEqual([
      expect.objectContaining({ refType: 'CHILD_OF', spanID: ok.spanId, traceID: ok.traceId }),
    ]);
    for (const child of ['feature_store.lookup', 'inference']) {
      const span = spans.find((s) => s.operationName === child);
      expect(span?.references[0]?.spanID, child).toBe(server?.spanID);
    }
  });

  it('never lets a dead collector affect calls', async () => {
    const deadEndpoint = `http://127.0.0.1:${await freePort()}`;
    await withServer(
      { OTEL_EXPORTER_OTLP_ENDPOINT: deadEndpoint, TRACE_SAMPLE_RATIO: '1' },
      async (_, address) => {
        const client = createScoringClient(address, { retry: false });
        try {
          for (let i = 0; i < 50; i++) {
            const { results } = await client.score({
              model: 'clv',
              modelVersion: '',
              customers: [{ customerId: String(i + 1), features: {} }],
              reasonCodes: 0,
            });
            expect(results[0]?.outcome?.$case).toBe('prediction');
          }
        } finally {
          client.close();
        }
      },
    );
  });
});

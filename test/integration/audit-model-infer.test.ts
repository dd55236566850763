import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createChannel, createClient, Metadata } from 'nice-grpc';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScoringClient } from '../../client/src/scoring-client.js';
import {
  GRPCInferenceServiceDefinition,
  type ModelInferRequest,
  type ModelInferResponse,
} from '../../gen/inference/grpc_service.js';
import { ApiKeyAuthenticator, hashApiKey } from '../../server/src/security/api-key-authenticator.js';
import { featuresRequest, fp32Output } from '../helpers/v2-client.js';
import { featureRowsIn } from '../helpers/v2-scoring.js';
import { startTestServer, type TestServer } from './setup/test-server.js';

// V2 ModelInfer calls in the audit trail, with authentication on: the real server, API keys, the generated
// `inference.GRPCInferenceService` client, and the rows read back from the real `prediction_audit` table.
const keys = { scorer: 'test-v2-scorer-key-0123456789abcdef', batch: 'test-v2-batch-key-0123456789abcdef' };
const keyList = [
  { name: 'svc-v2-online', sha256: hashApiKey(keys.scorer), roles: ['scorer'] },
  { name: 'svc-v2-batch', sha256: hashApiKey(keys.batch), roles: ['batch'] },
];
/** The principal id the server gives a key (whatever its format), from the server's own authenticator. */
const principalOf = (key: string) => new ApiKeyAuthenticator(keyList).authenticate(key)!.id;
const traceId = '0af7651916cd43dd8448eb211c80319c';

let dir: string;
let server: TestServer;
let churnFeatures: string[];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-audit-model-infer-'));
  const apiKeysFile = path.join(dir, 'api-keys.json');
  await writeFile(apiKeysFile, JSON.stringify(keyList));
  // Spill segments a previous process left: one of the version before ModelInfer was audited (a Score line,
  // no `method`), one with a ModelInfer row.
  const spillDir = path.join(dir, 'spill');
  await mkdir(spillDir, { mode: 0o700 });
  const call = { predictedAt: new Date().toISOString(), model: 'churn', modelVersion: '1', traceId: null };
  const segments = [
    { ...call, requestId: 'spilled-score', principal: 'svc-old', customerId: '31', score: 0.5 },
    {
      ...call,
      requestId: 'spilled-model-infer',
      principal: 'svc-v2',
      method: 'ModelInfer',
      customerId: null,
      rowIndex: 0,
      score: 0.25,
      outputs: { churn_probability: [0.25] },
    },
  ];
  for (const [i, line] of segments.entries()) {
    await writeFile(
      path.join(spillDir, `${String(Date.now() + i).padStart(15, '0')}-${randomUUID()}.ndjson`),
      JSON.stringify({
        ...line,
        featureSource: line.customerId === null ? 'inline' : 'store',
        spanId: null,
      }) + '\n',
    );
  }
  server = await startTestServer({
    AUTH_MODE: 'required',
    API_KEYS_FILE: apiKeysFile,
    AUDIT_FLUSH_INTERVAL_MS: '50',
    AUDIT_SPILL_DIR: spillDir,
  });
  const scoring = createScoringClient(server.address, { retry: false, auth: { apiKey: keys.scorer } });
  try {
    const { model } = await scoring.getModel({ name: 'churn', version: '' });
    churnFeatures = model!.versions[0]!.features.map((feature) => feature.name);
  } finally {
    scoring.close();
  }
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A V2 client sending `key` and, when given, a W3C traceparent on every call. */
function v2Client(key: string, traced = false) {
  const channel = createChannel(server.address);
  const metadata = Metadata({ 'x-api-key': key });
  if (traced) metadata.set('traceparent', `00-${traceId}-b7ad6b7169203331-01`);
  const client = createClient(GRPCInferenceServiceDefinition, channel, { '*': { metadata } });
  return Object.assign(client, { close: () => channel.close() });
}

interface AuditRow {
  method: string;
  request_id: string;
  principal: string | null;
  customer_id: string | null;
  model: string;
  model_version: string;
  row_index: number | null;
  score: number | null;
  outputs: Record<string, number[]> | null;
  feature_source: string;
  trace_id: string | null;
}

async function auditRows(where: string): Promise<AuditRow[]> {
  const client = new pg.Client({ connectionString: server.databaseUrl });
  await client.connect();
  try {
    return (
      await client.query<AuditRow>(
        `SELECT method, request_id, principal, customer_id, model, model_version, row_index, score, outputs,
                feature_source, trace_id
         FROM prediction_audit WHERE ${where} ORDER BY request_id, row_index`,
      )
    ).rows;
  } finally {
    await client.end();
  }
}

/** Output `name` of a response, one array per row of the input (`width` values each). */
function perRow(response: ModelInferResponse, name: string, width: number): number[][] {
  const values = fp32Output(response, name);
  return Array.from({ length: values.length / width }, (_, row) =>
    values.slice(row * width, (row + 1) * width),
  );
}

describe('V2 ModelInfer in the audit trail', () => {
  it('records one row per batch element with the principal, model@version, outputs and trace id', async () => {
    const v2 = v2Client(keys.scorer, true);
    let response: ModelInferResponse;
    try {
      response = await v2.modelInfer(
        featuresRequest('churn', featureRowsIn(churnFeatures, [101, 102, 103]), { id: 'v2-audit-typed' }),
      );
    } finally {
      v2.close();
    }
    const probabilities = perRow(response, 'churn_probability', 1);
    const contributions = perRow(response, 'contributions', churnFeatures.length);
    expect(probabilities).toHaveLength(3);

    await expect.poll(() => auditRows("request_id = 'v2-audit-typed'")).toHaveLength(3);
    const written = await auditRows("request_id = 'v2-audit-typed'");
    expect(written).toEqual(
      [0, 1, 2].map((row) => ({
        method: 'ModelInfer',
        request_id: 'v2-audit-typed',
        principal: principalOf(keys.scorer),
        customer_id: null,
        model: response.modelName,
        model_version: response.modelVersion,
        row_index: row,
        score: probabilities[row]![0],
        outputs: { churn_probability: probabilities[row], contributions: contributions[row] },
        feature_source: 'inline',
        trace_id: traceId,
      })),
    );
    expect(response).toMatchObject({ modelName: 'churn', modelVersion: '1' });
  });

  it('gives a call without an id a new request id, and records only the outputs it returned', async () => {
    const v2 = v2Client(keys.scorer);
    let response: ModelInferResponse;
    const request: ModelInferRequest = featuresRequest('clv', featureRowsIn(churnFeatures, [7, 8]), {
      raw: true,
      outputs: ['contributions'],
    });
    try {
      response = await v2.modelInfer(request);
    } finally {
      v2.close();
    }
    const contributions = perRow(response, 'contributions', churnFeatures.length);
    await expect.poll(() => auditRows("model = 'clv' AND method = 'ModelInfer'")).toHaveLength(2);
    const written = await auditRows("model = 'clv' AND method = 'ModelInfer'");
    expect(written.map((row) => ({ ...row, request_id: undefined }))).toEqual(
      [0, 1].map((row) => ({
        method: 'ModelInfer',
        request_id: undefined,
        principal: principalOf(keys.scorer),
        customer_id: null,
        model: 'clv',
        model_version: response.modelVersion,
        row_index: row,
        score: null,
        outputs: { contributions: contributions[row] },
        feature_source: 'inline',
        trace_id: null,
      })),
    );
    const ids = new Set(written.map((row) => row.request_id));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('does not audit ModelStreamInfer (the batch door, like ScoreStream) nor a refused request', async () => {
    const batch = v2Client(keys.batch);
    const online = v2Client(keys.scorer);
    try {
      async function* requests(): AsyncIterable<ModelInferRequest> {
        yield await Promise.resolve(
          featuresRequest('churn', featureRowsIn(churnFeatures, [5]), { id: 'v2-audit-stream' }),
        );
      }
      for await (const answer of batch.modelStreamInfer(requests())) expect(answer.errorMessage).toBe('');
      const bad = featuresRequest('churn', featureRowsIn(churnFeatures, [6]), { id: 'v2-audit-refused' });
      bad.inputs[0]!.shape = [1, 3];
      await expect(online.modelInfer(bad)).rejects.toThrow(/INVALID_ARGUMENT/);
      // A call audited after them: once its row is there, theirs would be too.
      await online.modelInfer(
        featuresRequest('churn', featureRowsIn(churnFeatures, [9]), { id: 'v2-audit-marker' }),
      );
    } finally {
      batch.close();
      online.close();
    }
    await expect.poll(() => auditRows("request_id = 'v2-audit-marker'")).toHaveLength(1);
    expect(await auditRows("request_id IN ('v2-audit-stream', 'v2-audit-refused')")).toEqual([]);
  });

  it('replays spilled ModelInfer rows, and a segment of the format before them as Score rows', async () => {
    await expect
      .poll(() => auditRows("request_id LIKE 'spilled-%'"))
      .toEqual([
        expect.objectContaining({
          method: 'ModelInfer',
          request_id: 'spilled-model-infer',
          customer_id: null,
          principal: 'svc-v2',
          score: 0.25,
          row_index: 0,
          outputs: { churn_probability: [0.25] },
        }),
        expect.objectContaining({
          method: 'Score',
          request_id: 'spilled-score',
          customer_id: '31',
          principal: 'svc-old',
          score: 0.5,
          row_index: null,
          outputs: null,
        }),
      ]);
  });

  it('still records Score calls as Score rows, with their customer and the principal', async () => {
    const scoring = createScoringClient(server.address, { retry: false, auth: { apiKey: keys.scorer } });
    try {
      await scoring.score({
        model: 'churn',
        modelVersion: '',
        customers: [{ customerId: '21', features: {} }],
        reasonCodes: 0,
      });
    } finally {
      scoring.close();
    }
    await expect.poll(() => auditRows("customer_id = '21'")).toHaveLength(1);
    expect(await auditRows("customer_id = '21'")).toEqual([
      expect.objectContaining({
        method: 'Score',
        principal: principalOf(keys.scorer),
        row_index: null,
        outputs: null,
        model: 'churn',
      }),
    ]);
  });
});

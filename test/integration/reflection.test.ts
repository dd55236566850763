import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toolPath } from '../helpers/tools.js';
import { startTestServer, type TestServer } from './setup/test-server.js';

// The tools users already have: grpcurl finds the API through server reflection, no .proto needed.
const run = promisify(execFile);
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t?.close());

describe('server reflection', () => {
  it('lets grpcurl list the service and call Score with the README example', async () => {
    const grpcurl = toolPath('grpcurl');
    const listed = await run(grpcurl, ['-plaintext', t.address, 'list']);
    expect(listed.stdout).toContain('customer_intelligence.scoring.v1.ScoringService');

    const { stdout } = await run(grpcurl, [
      '-plaintext',
      '-d',
      '{"model":"churn","customers":[{"customer_id":"42"}],"reason_codes":3}',
      t.address,
      'customer_intelligence.scoring.v1.ScoringService/Score',
    ]);
    const response = JSON.parse(stdout) as {
      results: Array<{
        customerId: string;
        prediction: { score: number; featureSource: string; reasonCodes: unknown[] };
      }>;
    };
    expect(response.results[0]!.customerId).toBe('42');
    expect(response.results[0]!.prediction.featureSource).toBe('FEATURE_SOURCE_STORE');
    expect(response.results[0]!.prediction.reasonCodes).toHaveLength(3);
  });
});

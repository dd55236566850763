import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverCredentialsFromEnv } from '../../batch/src/cli/server-credentials.js';
import { UsageError } from '../../batch/src/cli/usage-error.js';
import { createScoringClient } from '../../client/src/scoring-client.js';
import { createCa, writePem } from '../helpers/pki.js';
import { statusOf } from '../helpers/status-of.js';
import { startTestServer, type TestServer } from './setup/test-server.js';

// The chart's batch jobs reach the server through its headless Service, whose name the server certificate
// need not carry; SCORING_TLS_SERVER_NAME names the one it does. Certificates are generated at run time.
const CERTIFIED_NAME = 'customer-intelligence.ml.svc';
let dir: string;
let caFile: string;
let t: TestServer;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-batch-tls-'));
  const ca = await createCa('ci-batch-test-ca');
  caFile = path.join(dir, 'ca.crt');
  await writeFile(caFile, ca.certPem);
  const server = await writePem(
    dir,
    'server',
    await ca.issue({ commonName: 'customer-intelligence', server: true, dnsNames: [CERTIFIED_NAME] }),
  );
  t = await startTestServer({ GRPC_TLS: 'tls', TLS_CERT_FILE: server.cert, TLS_KEY_FILE: server.key });
});

afterAll(async () => {
  await t?.close();
  await rm(dir, { recursive: true, force: true });
});

async function listModelsWith(env: Record<string, string>): Promise<string> {
  const { clientOptions } = await serverCredentialsFromEnv(env, 'SCORING');
  // The address's host (127.0.0.1) is not in the certificate, as a headless Service's name would not be.
  const client = createScoringClient(t.address, { ...clientOptions, retry: false, deadlineMs: 3_000 });
  try {
    return await statusOf(client.listModels({}));
  } finally {
    client.close();
  }
}

describe('batch scoring client: SCORING_TLS_SERVER_NAME', () => {
  it('verifies the server certificate against the configured name instead of the address', async () => {
    expect(await listModelsWith({ SCORING_TLS_CA_FILE: caFile })).toBe('UNAVAILABLE');
    expect(
      await listModelsWith({ SCORING_TLS_CA_FILE: caFile, SCORING_TLS_SERVER_NAME: 'someone-else.ml.svc' }),
    ).toBe('UNAVAILABLE');
    expect(
      await listModelsWith({ SCORING_TLS_CA_FILE: caFile, SCORING_TLS_SERVER_NAME: CERTIFIED_NAME }),
    ).toBe('OK');
  });

  it('refuses a server name without TLS and says it in the description', async () => {
    await expect(
      serverCredentialsFromEnv({ SCORING_TLS_SERVER_NAME: CERTIFIED_NAME }, 'SCORING'),
    ).rejects.toThrow(UsageError);
    await expect(
      serverCredentialsFromEnv({ SCORING_TLS_SERVER_NAME: CERTIFIED_NAME }, 'SCORING'),
    ).rejects.toThrow(/SCORING_TLS_SERVER_NAME: only with TLS/);
    const { description } = await serverCredentialsFromEnv(
      {
        SCORING_TLS_CA_FILE: caFile,
        SCORING_TLS_SERVER_NAME: CERTIFIED_NAME,
      },
      'SCORING',
    );
    expect(description).toBe(`tls, server name ${CERTIFIED_NAME}`);
  });
});

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverCredentialsFromEnv } from '../../client/src/cli/server-credentials.js';
import { UsageError } from '../../client/src/cli/usage-error.js';
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

describe('npm run model and npm run score over TLS (ADMIN_TLS_*, SCORING_TLS_*)', () => {
  const run = promisify(execFile);
  /** Runs a client CLI against the TLS test server with `env`: its exit code and output. */
  const cli = (file: string, args: string[], env: Record<string, string>) =>
    run(process.execPath, ['--import', 'tsx', file, ...args, '--address', t.address], {
      env: { PATH: process.env.PATH ?? '', ...env },
    }).then(
      ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );

  it('verify the certificate with the configured CA and server name, and refuse remote plaintext keys', async () => {
    const trusted = { ADMIN_TLS_CA_FILE: caFile, ADMIN_TLS_SERVER_NAME: CERTIFIED_NAME };
    const listed = await cli('client/src/model-cli.ts', ['list', '--model', 'churn'], trusted);
    expect(listed).toMatchObject({ code: 0, stdout: expect.stringMatching(/^churn {2}default 1/m) });
    // Without the CA the server's certificate is not trusted: the call fails, it does not fall back.
    const untrusted = await cli('client/src/model-cli.ts', ['list'], { ADMIN_TLS: 'tls' });
    expect(untrusted).toMatchObject({ code: 1, stderr: expect.stringContaining('list: UNAVAILABLE') });

    // The score CLI's call reaches the server over TLS and gets its answer (this database has no such customer:
    // a customer that could not be scored exits 1).
    const scored = await cli('client/src/score-cli.ts', ['--customer', 'C404', '--model', 'churn'], {
      SCORING_TLS_CA_FILE: caFile,
      SCORING_TLS_SERVER_NAME: CERTIFIED_NAME,
    });
    expect(scored).toMatchObject({
      code: 1,
      stdout: 'churn: ERR_CUSTOMER_NOT_FOUND: customer "C404" is not in the feature store\n',
    });
    const scoredUntrusted = await cli('client/src/score-cli.ts', ['--customer', 'C404'], {
      SCORING_TLS: 'tls',
    });
    expect(scoredUntrusted).toMatchObject({ code: 1, stderr: expect.stringContaining('UNAVAILABLE') });

    // A key for a host that is not loopback, over plaintext: refused before anything is sent.
    const remote = await run(
      process.execPath,
      ['--import', 'tsx', 'client/src/model-cli.ts', 'list', '--address', '10.255.255.1:50051'],
      { env: { PATH: process.env.PATH ?? '', ADMIN_API_KEY: 'ci_not-sent' } },
    ).catch((error: { code: number; stderr: string }) => error);
    expect(remote).toMatchObject({ code: 2, stderr: expect.stringContaining('ADMIN_TLS: refusing to send') });
  });
});

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ChannelCredentials } from 'nice-grpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScoringClient } from '../../client/src/scoring-client.js';
import { createCa, writePem, type Ca, type Issued } from '../helpers/pki.js';
import { statusOf } from '../helpers/status-of.js';
import { toolPath } from '../helpers/tools.js';
import { startTestServer, type TestServer } from './setup/test-server.js';

// A CA, server and client certificates generated at run time; the server re-reads its PEM files every second.
const run = promisify(execFile);
let dir: string;
let ca: Ca;
let otherCa: Ca;
let clientCert: Issued;
let strangerCert: Issued;
let t: TestServer;
let serverFiles: { cert: string; key: string };

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-tls-'));
  ca = await createCa('ci-test-ca');
  otherCa = await createCa('someone-elses-ca');
  serverFiles = await writePem(
    dir,
    'server',
    await ca.issue({ commonName: 'customer-intelligence', server: true }),
  );
  await writeFile(path.join(dir, 'clients-ca.crt'), ca.certPem);
  clientCert = await ca.issue({ commonName: 'svc-online' });
  strangerCert = await otherCa.issue({ commonName: 'intruder' });
  t = await startTestServer({
    GRPC_TLS: 'mtls',
    TLS_CERT_FILE: serverFiles.cert,
    TLS_KEY_FILE: serverFiles.key,
    TLS_CLIENT_CA_FILE: path.join(dir, 'clients-ca.crt'),
    TLS_RELOAD_INTERVAL_MS: '1000',
    HEALTH_PORT: '0',
  });
});
afterAll(async () => {
  await t?.close();
  await rm(dir, { recursive: true, force: true });
});

async function listModels(credentials: ChannelCredentials): Promise<string> {
  const client = createScoringClient(t.address, { retry: false, credentials, deadlineMs: 3_000 });
  try {
    return await statusOf(client.listModels({}));
  } finally {
    client.close();
  }
}

const tlsClient = (trusted: string, identity?: Issued) =>
  identity === undefined
    ? ChannelCredentials.createSsl(Buffer.from(trusted))
    : ChannelCredentials.createSsl(
        Buffer.from(trusted),
        Buffer.from(identity.keyPem),
        Buffer.from(identity.certPem),
      );

describe('mutual TLS', () => {
  it('serves a client with a certificate from the client CA', async () => {
    expect(await listModels(tlsClient(ca.certPem, clientCert))).toBe('OK');
  });

  it.each([
    ['without a client certificate', () => tlsClient(ca.certPem)],
    ['with a certificate from another CA', () => tlsClient(ca.certPem, strangerCert)],
    ['over plaintext', () => ChannelCredentials.createInsecure()],
  ])('refuses a client %s', async (_, credentials) => {
    expect(await listModels(credentials())).toBe('UNAVAILABLE');
  });

  it('answers plaintext health probes on HEALTH_PORT (the kubelet cannot probe over TLS)', async () => {
    const { stdout, stderr } = await run(toolPath('grpc-health-probe'), [
      `-addr=127.0.0.1:${t.server.healthPort}`,
    ]);
    expect(stdout + stderr).toMatch(/status: SERVING/);
  });

  it('picks up a rotated server certificate without a restart', async () => {
    const rotatedCa = await createCa('rotated-ca');
    await writePem(
      dir,
      'server',
      await rotatedCa.issue({ commonName: 'customer-intelligence', server: true }),
    );
    let outcome = '';
    for (let attempt = 0; attempt < 30 && outcome !== 'OK'; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      outcome = await listModels(tlsClient(rotatedCa.certPem, clientCert));
    }
    expect(outcome).toBe('OK');
    // Clients that only trust the old CA no longer accept the server.
    expect(await listModels(tlsClient(ca.certPem, clientCert))).toBe('UNAVAILABLE');
  });
});

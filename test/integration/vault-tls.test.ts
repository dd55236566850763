import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../server/src/config/config.js';
import { VaultSession } from '../../server/src/secrets/vault-session.js';
import { createLogger } from '../../server/src/telemetry/logger.js';
import { createMetrics } from '../../server/src/telemetry/metrics.js';
import { createCa } from '../helpers/pki.js';

// The server's Vault client verifies Vault's certificate unless VAULT_SKIP_VERIFY says true: node-vault on
// its own skips verification whenever that variable is set at all, "false" included. Against a real TLS
// server whose certificate no trusted CA signed.
let server: https.Server;
let address: string;
let dir: string;
let requests = 0;

beforeAll(async () => {
  const ca = await createCa('untrusted-vault-ca');
  const leaf = await ca.issue({ commonName: 'localhost', server: true, dnsNames: ['localhost'] });
  server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_request, response) => {
    requests++;
    response.writeHead(403, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ errors: ['permission denied'] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  address = `https://localhost:${(server.address() as AddressInfo).port}`;
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-vault-tls-'));
  await writeFile(path.join(dir, 'token'), 'a-vault-token\n');
});
afterAll(async () => {
  delete process.env.VAULT_SKIP_VERIFY;
  await new Promise((resolve) => server?.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

const start = (skipVerify: boolean) =>
  VaultSession.start(
    {
      address,
      auth: { kind: 'token', tokenFile: path.join(dir, 'token') },
      requestTimeoutMs: 2_000,
      skipVerify,
    },
    { logger: createLogger({ level: 'silent' }), metrics: createMetrics() },
  );

describe('Vault over TLS', () => {
  it('refuses an untrusted certificate, even with VAULT_SKIP_VERIFY=false in the environment', async () => {
    process.env.VAULT_SKIP_VERIFY = 'false';
    const config = loadConfig({
      VAULT_ADDR: address,
      VAULT_AUTH: 'token',
      VAULT_TOKEN_FILE: path.join(dir, 'token'),
    });
    expect(config.vault?.skipVerify).toBe(false);
    const before = requests;
    await expect(start(config.vault!.skipVerify)).rejects.toThrow(
      /UNABLE_TO_VERIFY_LEAF_SIGNATURE|certificate/i,
    );
    expect(requests).toBe(before); // the TLS handshake failed: nothing was sent
  });

  it('skips verification only when VAULT_SKIP_VERIFY says true', async () => {
    const config = loadConfig({
      VAULT_ADDR: address,
      VAULT_AUTH: 'token',
      VAULT_TOKEN_FILE: path.join(dir, 'token'),
      VAULT_SKIP_VERIFY: 'true',
    });
    expect(config.vault?.skipVerify).toBe(true);
    const before = requests;
    await expect(start(true)).rejects.toThrow(); // this stand-in refuses the token
    expect(requests).toBeGreaterThan(before); // but the request reached it
    expect(() =>
      loadConfig({
        VAULT_ADDR: address,
        VAULT_AUTH: 'token',
        VAULT_TOKEN_FILE: 't',
        VAULT_SKIP_VERIFY: 'maybe',
      }),
    ).toThrow(/VAULT_SKIP_VERIFY/);
  });

  it('refuses a plain-http Vault outside loopback, naming the variable', () => {
    const vault = { VAULT_AUTH: 'token', VAULT_TOKEN_FILE: '/run/token' };
    expect(() => loadConfig({ ...vault, VAULT_ADDR: 'http://vault.vault.svc:8200' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...vault, VAULT_ADDR: 'http://vault.vault.svc:8200' })).toThrow(
      /VAULT_ADDR: must be an https:\/\/ URL \(plain http only to a loopback host/,
    );
    expect(loadConfig({ ...vault, VAULT_ADDR: 'http://127.0.0.1:8200' }).vault?.address).toBe(
      'http://127.0.0.1:8200',
    );
  });
});

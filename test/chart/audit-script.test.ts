import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/free-port.js';
import { REPO_ROOT } from '../helpers/helm.js';

// scripts/audit.sh runs the real `npm audit --omit=dev` on this repository's install. The advisory service is
// a local stand-in registry (none is reachable here: the registry mirror answers 405, which the stand-in
// also plays), or a closed port for a machine without network.
const pgVersion = (
  JSON.parse(readFileSync(path.join(REPO_ROOT, 'node_modules/pg/package.json'), 'utf8')) as {
    version: string;
  }
).version;

type Advisories = 'none' | 'high in pg' | 'refused (405)';
let advisories: Advisories = 'none';
let registry: http.Server;
let registryUrl: string;
let dir: string;

/** The stand-in registry's answer to one request. */
function answer(method: string | undefined, url: string | undefined): { status: number; body: string } {
  if (method === 'POST' && url?.includes('/security/')) {
    if (advisories === 'refused (405)') return { status: 405, body: '' };
    const advisory = {
      id: 1,
      url: 'https://advisories.invalid/1',
      title: 'a stand-in advisory',
      severity: 'high',
      vulnerable_versions: `<=${pgVersion}`,
      cwe: [],
      cvss: { score: 7.5, vectorString: null },
    };
    return { status: 200, body: JSON.stringify(advisories === 'high in pg' ? { pg: [advisory] } : {}) };
  }
  // npm reads the packument of an advised package to find its vulnerable versions.
  if (method === 'GET' && url === '/pg') {
    const versions = { [pgVersion]: { name: 'pg', version: pgVersion } };
    return {
      status: 200,
      body: JSON.stringify({ name: 'pg', 'dist-tags': { latest: pgVersion }, versions }),
    };
  }
  return { status: 404, body: '{}' };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-audit-'));
  await writeFile(path.join(dir, 'npmrc'), '');
  registry = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const { status, body } = answer(request.method, request.url);
      response.writeHead(status, { 'content-type': 'application/json' }).end(body);
    });
  });
  await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
  registryUrl = `http://127.0.0.1:${(registry.address() as AddressInfo).port}/`;
});

afterAll(async () => {
  await new Promise((resolve) => registry.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

/** Runs scripts/audit.sh against `registryUrl` with a clean environment (and npm cache and user config). */
function audit(env: { registry: string; AUDIT_OFFLINE?: string }) {
  return new Promise<{ code: number; output: string }>((resolve) => {
    execFile(
      path.join(REPO_ROOT, 'scripts/audit.sh'),
      {
        cwd: REPO_ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: dir,
          npm_config_registry: env.registry,
          npm_config_cache: path.join(dir, `cache-${Math.random().toString(36).slice(2)}`),
          npm_config_userconfig: path.join(dir, 'npmrc'),
          npm_config_fetch_retries: '0',
          ...(env.AUDIT_OFFLINE === undefined ? {} : { AUDIT_OFFLINE: env.AUDIT_OFFLINE }),
        },
      },
      (error, stdout, stderr) => resolve({ code: Number(error?.code ?? 0), output: stdout + stderr }),
    );
  });
}

describe('scripts/audit.sh', () => {
  it('no advisory: prints the counts of production dependencies and passes', async () => {
    advisories = 'none';
    const { code, output } = await audit({ registry: registryUrl });
    expect(output).toMatch(/^audit: production dependencies: \{.*"high":0,"critical":0/m);
    expect(code).toBe(0);
  });

  it('a high advisory in a production dependency (pg) fails it', async () => {
    advisories = 'high in pg';
    const { code, output } = await audit({ registry: registryUrl });
    expect(output).toMatch(/^audit: production dependencies: \{.*"high":[1-9]/m);
    expect(code).toBe(1);
  });

  it('a mirror that refuses the advisory endpoint (405): NOT CHECKED, and it fails unless the caller allows it', async () => {
    advisories = 'refused (405)';
    const refused = await audit({ registry: registryUrl });
    expect(refused.output).toMatch(/^audit: NOT CHECKED: .*405 Method Not Allowed.*not audited$/m);
    expect(refused.output).toMatch(/set AUDIT_OFFLINE=allow/);
    expect(refused.code).toBe(2);

    const allowed = await audit({ registry: registryUrl, AUDIT_OFFLINE: 'allow' });
    expect(allowed.output).toMatch(/^audit: NOT CHECKED: .*405 Method Not Allowed/m);
    expect(allowed.code).toBe(0);
  });

  it('no advisory service at all (a closed port): NOT CHECKED, and it fails unless the caller allows it', async () => {
    const closed = `http://127.0.0.1:${await freePort()}/`;
    const unreachable = await audit({ registry: closed });
    expect(unreachable.output).toMatch(/^audit: NOT CHECKED: .*ECONNREFUSED/m);
    expect(unreachable.code).toBe(2);
    expect((await audit({ registry: closed, AUDIT_OFFLINE: 'allow' })).code).toBe(0);
  });

  it("AUDIT_OFFLINE takes only 'allow'", async () => {
    const { code, output } = await audit({ registry: registryUrl, AUDIT_OFFLINE: 'yes' });
    expect(output).toBe("audit: AUDIT_OFFLINE must be 'allow' or unset (it is 'yes')\n");
    expect(code).toBe(2);
  });
});

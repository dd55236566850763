import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { environmentSchema, loadConfig } from '../../server/src/config/config.js';
import { CHART_DIR, CI_CASES, ciValues, render, renderCiCasesOnce } from '../helpers/helm.js';
import { only, type Labels, type Manifest, type Workload } from '../helpers/manifests.js';
import { containerEnvironment, mainContainer, type SecretKeyRef } from '../helpers/pod-environment.js';

// The ConfigMap the server reads its non-secret configuration from, checked against the server's own schema.
const manifestsOf = renderCiCasesOnce();

// Files the pods get from volumes or the Vault Agent do not exist here: fake ones stand in, under this root.
let fakeRoot: string;
beforeAll(async () => {
  fakeRoot = await mkdtemp(path.join(os.tmpdir(), 'chart-config-'));
});
afterAll(async () => {
  await rm(fakeRoot, { recursive: true, force: true });
});

/** A fake value for a Secret the chart references (the Secrets themselves are the user's). */
function fakeSecret(ref: SecretKeyRef, variable: string): string {
  return variable.startsWith('DATABASE_') ? `postgres://user:pass@${ref.name}:5432/ci` : `fake-${ref.key}`;
}

/** `env` with every absolute *_FILE path moved under {@link fakeRoot}, where a fake file now exists. */
async function withFakeFiles(env: Record<string, string>): Promise<Record<string, string>> {
  const moved = { ...env };
  for (const [name, file] of Object.entries(env)) {
    if (!name.endsWith('_FILE') || !path.isAbsolute(file)) continue;
    const fake = path.join(fakeRoot, file);
    await mkdir(path.dirname(fake), { recursive: true });
    // What the Vault Agent template renders: a URL with dynamic credentials.
    await writeFile(fake, name === 'DATABASE_URL_FILE' ? 'postgres://v-ci-1a2b:secret@db:5432/ci' : 'fake');
    moved[name] = fake;
  }
  return moved;
}

interface SecurityValues {
  grpc: { tls: { mode: string } };
  auth: { mode: string };
}

describe('configuration', () => {
  it('changing a config value changes the checksum annotation (pods roll); other values do not', async () => {
    const checksum = async (set: Record<string, string> = {}) =>
      podTemplateAnnotations(await render({ set }))['checksum/config'];
    const base = await checksum();
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect(await checksum()).toBe(base);
    expect(await checksum({ 'config.logLevel': 'debug' })).not.toBe(base);
    expect(await checksum({ 'config.maxCustomersPerRequest': '10' })).not.toBe(base);
    expect(await checksum({ replicaCount: '5' })).toBe(base);
  });

  it.each(CI_CASES)('%s: the ConfigMap holds only real server variables, and no credentials', (ciCase) => {
    const data = only(manifestsOf(ciCase), 'ConfigMap', 'server').data!;
    const known = Object.keys(environmentSchema.shape);
    for (const name of Object.keys(data)) expect(known, name).toContain(name);
    // With Vault database credentials the URLs are here, without a user or password (Vault supplies them).
    for (const name of ['DATABASE_URL', 'DATABASE_READ_URL'].filter((n) => data[n] !== undefined)) {
      const url = new URL(data[name]!);
      expect([url.username, url.password], name).toEqual(['', '']);
    }
  });

  it.each(CI_CASES)(
    '%s: the server and the migration hook start with the environment their pods get',
    async (ciCase) => {
      const manifests = manifestsOf(ciCase);
      const values = parse(await readFile(ciValues(ciCase), 'utf8')) as SecurityValues;
      const pods = [['Deployment', 'server'] as const, ['Job', 'migration'] as const].filter(([kind]) =>
        manifests.some((m) => m.kind === kind),
      );
      for (const [kind, component] of pods) {
        const env = containerEnvironment(manifests, mainContainer(manifests, kind, component), fakeSecret);
        const config = loadConfig(await withFakeFiles(env));
        // A real database (never the embedded quick start) from the Secret, the Vault file or Vault itself.
        expect(config.databaseUrl, kind).toMatch(/^postgres:\/\//);
        if (kind === 'Deployment') {
          expect(config.security.tls.mode).toBe(values.grpc.tls.mode);
          expect(config.security.auth.mode).toBe(values.auth.mode);
        }
      }
    },
  );

  it("the chart's defaults are the server's defaults", () => {
    const defaults = environmentSchema.parse({}) as Record<string, unknown>;
    const data = only(manifestsOf('minimal'), 'ConfigMap', 'server').data!;
    // Compared as the server parses them (RATE_LIMITS becomes buckets); GRPC_TLS and AUTH_MODE have no
    // default on purpose: the chart requires the choice, as the server does. AUDIT_SPILL_DIR is off in the
    // server (a directory must belong to one process) and on in the chart, which gives each pod its own.
    // METRICS_HOST's default depends on DATABASE_URL (loopback for the quick start): the chart's is the
    // server's with a database, as every deployment has.
    const withDefaults = Object.keys(data).filter((name) => defaults[name] !== undefined);
    expect(
      Object.keys(data)
        .filter((name) => !withDefaults.includes(name))
        .sort(),
    ).toEqual(['AUDIT_SPILL_DIR', 'AUTH_MODE', 'GRPC_TLS', 'METRICS_HOST']);
    const parsed = environmentSchema.parse(data) as Record<string, unknown>;
    for (const name of withDefaults) expect(parsed[name], name).toEqual(defaults[name]);
    const deployed = loadConfig({
      DATABASE_URL: 'postgres://db:5432/ci',
      GRPC_TLS: 'plaintext',
      AUTH_MODE: 'none',
    });
    expect(data.METRICS_HOST).toBe(deployed.metricsHost);
  });

  it('renders every config.* value of values.yaml as its variable', async () => {
    const values = parse(await readFile(path.join(CHART_DIR, 'values.yaml'), 'utf8')) as {
      config: Record<string, unknown>;
    };
    const data = only(manifestsOf('minimal'), 'ConfigMap', 'server').data!;
    const variable = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
    for (const key of Object.keys(values.config)) expect(Object.keys(data), key).toContain(variable(key));
    expect(data.RATE_LIMITS).toBe('scorer=1000:2000,batch=200:400,admin=20:40');
  });

  it('production: the server parses the observability values as configured (fractions stay fractions)', () => {
    const data = only(manifestsOf('production'), 'ConfigMap', 'server').data!;
    expect(environmentSchema.parse(data)).toMatchObject({
      METRICS_PORT: 9464,
      METRICS_HOST: '0.0.0.0',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector.example.internal:4317',
      TRACE_SAMPLE_RATIO: 0.05,
      DRIFT_WINDOW: 50000,
      AUDIT_SAMPLE_RATE: 0.25,
      AUDIT_MAX_BUFFERED_ROWS: 200000,
      AUDIT_FLUSH_INTERVAL_MS: 500,
    });
  });

  it('maps config values onto their variables', async () => {
    const data = only(
      await render({ set: { 'config.maxCustomersPerRequest': '250', containerPort: '6000' } }),
      'ConfigMap',
    ).data!;
    expect(data.MAX_CUSTOMERS_PER_REQUEST).toBe('250');
    expect(data.GRPC_PORT).toBe('6000');
    expect(data.MAX_MESSAGE_BYTES).toBe('4194304'); // large numbers stay integers, not 4.194304e+06
  });

  it('gives the audit spill its own emptyDir, mounted where AUDIT_SPILL_DIR points, or neither', async () => {
    const on = await render({ set: { 'auditSpill.sizeLimit': '500Mi', 'auditSpill.maxBytes': '400000000' } });
    const data = only(on, 'ConfigMap', 'server').data!;
    expect(data.AUDIT_SPILL_MAX_BYTES).toBe('400000000');
    const pod = only<Workload>(on, 'Deployment').spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: 'audit-spill', emptyDir: { sizeLimit: '500Mi' } });
    expect(mainContainer(on, 'Deployment').volumeMounts).toContainEqual({
      name: 'audit-spill',
      mountPath: data.AUDIT_SPILL_DIR,
    });

    const off = await render({ set: { 'auditSpill.enabled': 'false' } });
    expect(only(off, 'ConfigMap', 'server').data!.AUDIT_SPILL_DIR).toBeUndefined();
    const offPod = only<Workload>(off, 'Deployment').spec.template.spec;
    expect(offPod.volumes!.map((v) => v.name)).not.toContain('audit-spill');
  });
});

function podTemplateAnnotations(manifests: readonly Manifest[]): Labels {
  return only<Workload>(manifests, 'Deployment').spec.template.metadata.annotations ?? {};
}

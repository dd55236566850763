import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { environmentSchema, loadConfig } from '../../server/src/config/config.js';
import {
  CHART_DIR,
  CI_CASES,
  only,
  render,
  renderCiCasesOnce,
  type Labels,
  type Manifest,
  type Workload,
} from '../helpers/helm.js';

// The ConfigMap the server reads its non-secret configuration from, checked against the server's own schema.
const manifestsOf = renderCiCasesOnce();

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

  it.each(CI_CASES)(
    '%s: the ConfigMap holds only real, non-secret server variables the server accepts',
    (ciCase) => {
      const data = only(manifestsOf(ciCase), 'ConfigMap', 'server').data!;
      const known = Object.keys(environmentSchema.shape);
      for (const name of Object.keys(data)) expect(known, name).toContain(name);
      expect(Object.keys(data)).not.toContain('DATABASE_URL');
      expect(Object.keys(data)).not.toContain('DATABASE_READ_URL');
      // What the pod's environment will be (the URL comes from the Secret): the server must start with it.
      expect(() => loadConfig({ ...data, DATABASE_URL: 'postgres://u:p@db:5432/ci' })).not.toThrow();
    },
  );

  it("the chart's defaults are the server's defaults", () => {
    const defaults = environmentSchema.parse({}) as Record<string, unknown>;
    const data = only(manifestsOf('minimal'), 'ConfigMap', 'server').data!;
    for (const [name, value] of Object.entries(data)) expect(value, name).toBe(String(defaults[name]));
  });

  it('renders every config.* value of values.yaml as its variable', async () => {
    const values = parse(await readFile(path.join(CHART_DIR, 'values.yaml'), 'utf8')) as {
      config: Record<string, unknown>;
    };
    const data = only(manifestsOf('minimal'), 'ConfigMap', 'server').data!;
    const variable = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
    for (const key of Object.keys(values.config)) expect(Object.keys(data), key).toContain(variable(key));
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
});

function podTemplateAnnotations(manifests: readonly Manifest[]): Labels {
  return only<Workload>(manifests, 'Deployment').spec.template.metadata.annotations ?? {};
}

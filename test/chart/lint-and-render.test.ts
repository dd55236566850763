import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  CHART_DIR,
  CI_CASES,
  KUBE_VERSION,
  REPO_ROOT,
  ciValues,
  helm,
  helmFailure,
  render,
  templateArgs,
} from '../helpers/helm.js';

interface ChartYaml {
  apiVersion: string;
  name: string;
  version: string;
  appVersion: string;
  kubeVersion?: string;
  maintainers?: Array<{ name: string; email?: string; url?: string }>;
  annotations?: Record<string, string>;
}

/** Artifact Hub's change kinds (artifacthub.io/changes). */
const CHANGE_KINDS = ['added', 'changed', 'deprecated', 'removed', 'fixed', 'security'];

describe('helm lint and template', () => {
  it('has the values cases the issue asks for', () => {
    expect(CI_CASES).toEqual(
      expect.arrayContaining(['everything-off', 'minimal', 'production', 'vault-direct']),
    );
  });

  it.each(CI_CASES)('ci/%s-values.yaml passes helm lint --strict', async (ciCase) => {
    const { stdout } = await helm([
      'lint',
      CHART_DIR,
      '--strict',
      '--kube-version',
      KUBE_VERSION,
      '--values',
      ciValues(ciCase),
    ]);
    expect(stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
  });

  it.each(CI_CASES)('ci/%s-values.yaml renders', async (ciCase) => {
    const manifests = await render({ ciCase });
    expect(manifests.map((m) => m.kind)).toEqual(
      expect.arrayContaining(['ConfigMap', 'Service', 'Deployment']),
    );
  });

  it('everything-off renders only the ConfigMap, the Service and the Deployment', async () => {
    const kinds = (await render({ ciCase: 'everything-off' })).map((m) => m.kind).sort();
    expect(kinds).toEqual(['ConfigMap', 'Deployment', 'Service']);
  });

  it('production renders every optional object', async () => {
    const kinds = (await render({ ciCase: 'production' })).map((m) => m.kind).sort();
    expect(kinds).toEqual([
      'ConfigMap',
      'ConfigMap',
      'CronJob',
      'CronJob',
      'CronJob',
      'CronJob',
      'Deployment',
      'HorizontalPodAutoscaler',
      'Job',
      'NetworkPolicy',
      'NetworkPolicy',
      'Pod',
      'Pod',
      'PodDisruptionBudget',
      'PrometheusRule',
      'Service',
      'Service',
      'Service',
      // The server's, the three batch jobs' and the migration hook's.
      'ServiceAccount',
      'ServiceAccount',
      'ServiceAccount',
      'ServiceAccount',
      'ServiceAccount',
      'ServiceMonitor',
    ]);
  });
});

describe('Chart.yaml', () => {
  it('is apiVersion v2, with the app version of package.json', async () => {
    const chart = parse(await readFile(path.join(CHART_DIR, 'Chart.yaml'), 'utf8')) as ChartYaml;
    const pkg = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(chart.apiVersion).toBe('v2');
    expect(chart.name).toBe('customer-intelligence');
    expect(chart.appVersion).toBe(pkg.version);
    expect(chart.kubeVersion).toBeTruthy();
  });

  it('names its maintainers and carries the Artifact Hub annotations, well-formed', async () => {
    const chart = parse(await readFile(path.join(CHART_DIR, 'Chart.yaml'), 'utf8')) as ChartYaml;
    const pkg = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
      license: string;
    };
    expect(chart.maintainers).toEqual([{ name: expect.any(String), email: expect.stringContaining('@') }]);
    const annotations = chart.annotations ?? {};
    expect(annotations['artifacthub.io/license']).toBe(pkg.license);
    // Artifact Hub reads these two as YAML lists held in strings.
    const links = parse(annotations['artifacthub.io/links'] ?? '') as Array<{ name: string; url: string }>;
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) expect(Object.keys(link).sort(), link.name).toEqual(['name', 'url']);
    for (const link of links) expect(new URL(link.url).protocol, link.name).toBe('https:');
    const changes = parse(annotations['artifacthub.io/changes'] ?? '') as Array<{
      kind: string;
      description: string;
    }>;
    expect(changes.length).toBeGreaterThan(0);
    for (const change of changes) {
      expect(CHANGE_KINDS, change.description).toContain(change.kind);
      expect(change.description.length).toBeGreaterThan(0);
    }
  });

  it(`sets a kubeVersion range that accepts ${KUBE_VERSION} and refuses clusters without preStop sleep`, async () => {
    await expect(render({ kubeVersion: KUBE_VERSION })).resolves.not.toHaveLength(0);
    await expect(render({ kubeVersion: '1.30.0' })).resolves.not.toHaveLength(0);
    const stderr = await helmFailure(templateArgs({ kubeVersion: '1.29.9' }));
    expect(stderr).toContain('chart requires kubeVersion');
  });
});

describe('NOTES.txt', () => {
  // helm template does not print NOTES.txt; a throw-away copy of the chart wraps it in a ConfigMap.
  let copy: string | undefined;
  afterAll(async () => {
    if (copy) await rm(copy, { recursive: true, force: true });
  });

  async function notes(ciCase: string): Promise<string> {
    copy ??= await mkdtemp(path.join(os.tmpdir(), 'chart-notes-'));
    const chartDir = path.join(copy, ciCase);
    await cp(CHART_DIR, chartDir, { recursive: true });
    await writeFile(
      path.join(chartDir, 'templates/zz-notes.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n' +
        '  notes: {{ include (print $.Template.BasePath "/NOTES.txt") . | toJson }}\n',
    );
    const { stdout } = await helm([
      ...templateArgs({ ciCase, chartDir }),
      '--show-only',
      'templates/zz-notes.yaml',
    ]);
    return (parse(stdout) as { data: { notes: string } }).data.notes;
  }

  it('tells how to reach the service: port-forward, grpcurl, npm run score, helm test', async () => {
    const text = await notes('minimal');
    expect(text).toContain('kubectl --namespace ml port-forward svc/ci-customer-intelligence 50051:50051');
    expect(text).toContain('grpcurl -plaintext localhost:50051 grpc.health.v1.Health/Check');
    expect(text).toContain('customer_intelligence.scoring.v1.ScoringService/Score');
    expect(text).toContain('SCORING_ADDRESS=localhost:50051 npm run score -- --customer 42');
    expect(text).toContain('dns:///ci-customer-intelligence-headless.ml.svc:50051');
    expect(text).toContain('helm test ci --namespace ml');
  });

  it('only mentions what is deployed', async () => {
    const text = await notes('everything-off');
    expect(text).not.toContain('headless');
    expect(text).not.toContain('helm test');
    expect(text).not.toContain('migrate');
    expect(text).not.toMatch(/ServiceMonitor|PrometheusRule|Grafana|Traces/);
    expect(text).not.toMatch(/CronJob|create job/);
  });

  it('lists the batch CronJobs with their schedules and how to start a run by hand', async () => {
    const text = await notes('production');
    expect(text).toContain('Batch CronJobs (schedules in Etc/UTC):');
    expect(text).toContain('ci-customer-intelligence-score-churn  "0 2 * * *"  8 shards');
    expect(text).toContain('ci-customer-intelligence-train  "0 1 * * 0"');
    expect(text).toContain(
      'kubectl --namespace ml create job --from=cronjob/ci-customer-intelligence-score-churn score-churn-manual-1',
    );
    expect(await notes('minimal')).not.toContain('CronJob');
  });

  it('with TLS and auth, shows grpcurl with the certificates and an API key, and the health port', async () => {
    const text = await notes('production');
    expect(text).toContain(
      'Secrets come from Vault through the Vault Agent injector (role customer-intelligence)',
    );
    // Who logs in as what: the ServiceAccount and Vault role of each workload, to bind in Vault.
    expect(text).toContain(
      [
        'Each workload runs as its own ServiceAccount (bind each Vault role to its ServiceAccount only):',
        '  server: ServiceAccount ci-customer-intelligence, Vault role customer-intelligence',
        '  score: ServiceAccount ci-customer-intelligence-score, Vault role customer-intelligence-score',
        '  train: ServiceAccount ci-customer-intelligence-train, Vault role customer-intelligence-train',
        '  retention: ServiceAccount ci-customer-intelligence-retention, Vault role customer-intelligence-retention',
        '  migration: ServiceAccount ci-customer-intelligence-migrate, Vault role customer-intelligence-migrate',
      ].join('\n'),
    );
    expect(text).toContain(
      'grpcurl -cacert ca.crt -authority ci-customer-intelligence.ml.svc -cert client.crt -key client.key',
    );
    expect(text).toContain('-H "x-api-key: $SCORING_API_KEY"');
    expect(text).toContain('Probes use the plaintext health-only port 50052, which no Service exposes');
    expect(text).not.toContain('-plaintext');
    // The repository's client speaks plaintext only.
    expect(text).not.toContain('npm run score');
    expect(await notes('vault-direct')).toContain(
      "Secrets come from Vault through the server's own client (https://vault.vault.svc:8200",
    );
  });

  it('tells where the metrics are and how Prometheus and Grafana pick them up', async () => {
    expect(await notes('minimal')).toContain(
      'kubectl --namespace ml port-forward deploy/ci-customer-intelligence 9464:9464',
    );
    const text = await notes('production');
    expect(text).toContain('ServiceMonitor ci-customer-intelligence in namespace ml (labels: release=kps)');
    expect(text).toContain('PrometheusRule');
    expect(text).toContain('ConfigMaps labelled grafana_dashboard="1" in namespace monitoring');
    expect(text).toContain('Traces go to http://otel-collector.example.internal:4317');
  });
});

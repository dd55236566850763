import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  CHART_DIR,
  KUBE_VERSION,
  ciValues,
  helm,
  helmFailure,
  render,
  templateArgs,
} from '../helpers/helm.js';
import { only } from '../helpers/manifests.js';

// Values the schema cannot judge alone (they relate two values, or need parsing) that would render fine and
// then be refused: by the API server, by Prometheus, or by the server, which exits at start (a crash loop).
// The templates refuse them instead, naming the value, and list every problem of a render at once
// (templates/_validate.tpl). Single values are the schema's (values-schema.test.ts).

const SOFT_SPREAD_WITH_MIN_DOMAINS = {
  'topologySpread[0].topologyKey': 'topology.kubernetes.io/zone',
  'topologySpread[0].maxSkew': '1',
  'topologySpread[0].whenUnsatisfiable': 'ScheduleAnyway',
  'topologySpread[0].minDomains': '2',
};
const HPA = { 'autoscaling.enabled': 'true', 'resources.requests.cpu': '500m' };
const SERVICE_MONITOR = { 'metrics.serviceMonitor.enabled': 'true' };

describe('values that render but would be refused once deployed', () => {
  it.each([
    [
      'a feature query timeout not below the call timeout (the server exits at start)',
      { 'config.featureQueryTimeoutMs': '5000' },
      'config.featureQueryTimeoutMs (5000) must be below config.requestTimeoutMs (5000)',
    ],
    [
      'a call timeout lowered below the default feature query timeout',
      { 'config.requestTimeoutMs': '400' },
      'config.featureQueryTimeoutMs (500) must be below config.requestTimeoutMs (400)',
    ],
    [
      "a database wait as long as the startup probe's window (the kubelet restarts the server first)",
      { 'config.startupDatabaseTimeoutMs': '120000' },
      "config.startupDatabaseTimeoutMs (120000) must be below the startup probe's window, probes.startup.periodSeconds x probes.startup.failureThreshold (120000 ms)",
    ],
    [
      'a startup probe shortened below the default database wait',
      { 'probes.startup.failureThreshold': '10' },
      'config.startupDatabaseTimeoutMs (30000) must be below',
    ],
    [
      'an HPA whose minimum exceeds its maximum',
      { ...HPA, 'autoscaling.minReplicas': '5', 'autoscaling.maxReplicas': '3' },
      'autoscaling.minReplicas (5) must not exceed autoscaling.maxReplicas (3)',
    ],
    [
      'minDomains on a soft topology spread',
      SOFT_SPREAD_WITH_MIN_DOMAINS,
      'topologySpread[0].minDomains needs whenUnsatisfiable DoNotSchedule (it is ScheduleAnyway)',
    ],
    [
      'a scrape timeout longer than the scrape interval',
      {
        ...SERVICE_MONITOR,
        'metrics.serviceMonitor.interval': '1m',
        'metrics.serviceMonitor.scrapeTimeout': '1m500ms',
      },
      'metrics.serviceMonitor.scrapeTimeout (1m500ms) must not exceed metrics.serviceMonitor.interval (1m)',
    ],
    [
      'an HPA without a CPU request (the default one dropped)',
      { 'autoscaling.enabled': 'true', 'resources.requests.cpu': 'null' },
      'autoscaling.enabled needs resources.requests.cpu',
    ],
  ])('refuses %s, naming the value', async (_name, set, message) => {
    const stderr = await helmFailure(templateArgs({ set }));
    expect(stderr).toContain('invalid values:');
    expect(stderr).toContain(message);
  });

  it.each([
    ['a feature query timeout 1 ms below the call timeout', { 'config.featureQueryTimeoutMs': '4999' }],
    [
      "a database wait 1 ms inside the startup probe's window",
      { 'config.startupDatabaseTimeoutMs': '119999' },
    ],
    [
      'an HPA with minimum = maximum',
      { ...HPA, 'autoscaling.minReplicas': '3', 'autoscaling.maxReplicas': '3' },
    ],
    [
      'minDomains on a hard topology spread',
      { ...SOFT_SPREAD_WITH_MIN_DOMAINS, 'topologySpread[0].whenUnsatisfiable': 'DoNotSchedule' },
    ],
    [
      'a scrape timeout equal to the interval, written in other units',
      {
        ...SERVICE_MONITOR,
        'metrics.serviceMonitor.interval': '1m30s',
        'metrics.serviceMonitor.scrapeTimeout': '90s',
      },
    ],
    [
      'a scrape timeout in milliseconds below a one-second interval',
      {
        ...SERVICE_MONITOR,
        'metrics.serviceMonitor.interval': '1s',
        'metrics.serviceMonitor.scrapeTimeout': '999ms',
      },
    ],
  ])('accepts %s', async (_name, set) => {
    await expect(render({ set })).resolves.not.toHaveLength(0);
  });

  it('lists every problem of a render at once', async () => {
    const stderr = await helmFailure(
      templateArgs({
        set: {
          'config.featureQueryTimeoutMs': '6000',
          'config.startupDatabaseTimeoutMs': '600000',
          ...SOFT_SPREAD_WITH_MIN_DOMAINS,
        },
      }),
    );
    expect(stderr).toContain('config.featureQueryTimeoutMs (6000)');
    expect(stderr).toContain('config.startupDatabaseTimeoutMs (600000)');
    expect(stderr).toContain('topologySpread[0].minDomains');
  });
});

describe('database URLs with Vault database credentials carry none of their own', () => {
  // production: the injector renders the URL with Vault's credentials; database.url is a Vault Agent template
  // and database.readUrl goes into the ConfigMap, both in plain text.
  it.each([
    'postgres://pg:5432/ci?user=owner&password=hunter2',
    'postgres://pg:5432/ci?sslmode=require&PassWord=hunter2',
    // pg-connection-string decodes parameter names: pass%77ord is password.
    'postgres://pg:5432/ci?pass%77ord=hunter2',
    'postgres://pg:5432/ci?sslmode=verify-full&sslpassword=hunter2',
    // A user parameter would replace the user Vault issues.
    'postgres://pg:5432/ci?sslmode=require&user=owner',
  ])('refuses %s as database.url or database.readUrl, without repeating it', async (url) => {
    for (const key of ['database.url', 'database.readUrl']) {
      const stderr = await helmFailure(templateArgs({ ciCase: 'production', set: { [key]: url } }));
      expect(stderr).toContain(`${key} must not carry credentials`);
      expect(stderr).not.toContain('hunter2');
    }
  });

  it('keeps a URL whose parameters carry no credential', async () => {
    const url =
      'postgres://replica.db.svc:5432/ci?sslmode=verify-full&application_name=user&target_session_attrs=any';
    const manifests = await render({ ciCase: 'production', set: { 'database.readUrl': url } });
    expect(only(manifests, 'ConfigMap', 'server').data!.DATABASE_READ_URL).toBe(url);
  });
});

describe('helm lint --strict', () => {
  // Under helm lint, `fail` only logs ("[INFO] Fail: ...", helm/helm#8973): without the chart's own guard lint
  // would pass these values.
  let dir: string | undefined;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('fails on a values file that breaks the cross-value checks, reporting every problem', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'chart-lint-'));
    const file = path.join(dir, 'invalid-values.yaml');
    await writeFile(
      file,
      stringify({
        config: { featureQueryTimeoutMs: 6000, startupDatabaseTimeoutMs: 600000 },
        autoscaling: { enabled: true, minReplicas: 4, maxReplicas: 2 },
        resources: { requests: { cpu: '500m' } },
        topologySpread: [
          {
            topologyKey: 'topology.kubernetes.io/zone',
            maxSkew: 1,
            whenUnsatisfiable: 'ScheduleAnyway',
            minDomains: 3,
          },
        ],
        metrics: { serviceMonitor: { enabled: true, interval: '15s', scrapeTimeout: '30s' } },
      }),
    );
    const args = ['lint', CHART_DIR, '--strict', '--kube-version', KUBE_VERSION];
    const failure = await helm([...args, '--values', ciValues('minimal'), '--values', file]).then(
      () => 'helm lint passed',
      (error: Error) => error.message,
    );
    expect(failure).toContain('1 chart(s) linted, 1 chart(s) failed');
    expect(failure).toContain('INVALID VALUES');
    for (const message of [
      'config.featureQueryTimeoutMs (6000) must be below config.requestTimeoutMs (5000)',
      "config.startupDatabaseTimeoutMs (600000) must be below the startup probe's window",
      'autoscaling.minReplicas (4) must not exceed autoscaling.maxReplicas (2)',
      'topologySpread[0].minDomains needs whenUnsatisfiable DoNotSchedule',
      'metrics.serviceMonitor.scrapeTimeout (30s) must not exceed metrics.serviceMonitor.interval (15s)',
    ]) {
      expect(failure).toContain(message);
    }
    // The same values without the file lint clean (lint-and-render.test.ts lints every ci/ case).
    await expect(helm([...args, '--values', ciValues('minimal')])).resolves.toBeDefined();
  });
});

import { describe, expect, it } from 'vitest';
import {
  helmFailure,
  render,
  renderCiCasesOnce,
  renderWithJson,
  templateArgs,
  SCHEMA_ERROR,
} from '../helpers/helm.js';
import {
  matchesSelector,
  ofKind,
  only,
  podTemplateOf,
  type Labels,
  type Manifest,
} from '../helpers/manifests.js';

// Scraping through a PodMonitor instead of the ServiceMonitor (metrics.podMonitor), and the relabelings both
// take (relabelings, metricRelabelings).
const manifestsOf = renderCiCasesOnce();

interface RelabelConfig {
  sourceLabels?: string[];
  targetLabel?: string;
  replacement?: string;
  regex?: string;
  action?: string;
}

interface ScrapeEndpoint {
  port: string;
  path: string;
  interval?: string;
  scrapeTimeout?: string;
  relabelings?: RelabelConfig[];
  metricRelabelings?: RelabelConfig[];
}

interface PodMonitorSpec {
  namespaceSelector: { matchNames: string[] };
  selector: { matchLabels: Labels };
  podMetricsEndpoints: ScrapeEndpoint[];
}

const DROP_GC: RelabelConfig = { sourceLabels: ['__name__'], regex: 'nodejs_gc_.*', action: 'drop' };
const TEAM: RelabelConfig = { sourceLabels: ['__meta_kubernetes_pod_label_team'], targetLabel: 'team' };
/** The job label a ServiceMonitor's series carry: the metrics Service's name. */
const JOB: RelabelConfig = {
  action: 'replace',
  targetLabel: 'job',
  replacement: 'ci-customer-intelligence-metrics',
};

const podMonitorSpec = (manifests: readonly Manifest[]) =>
  only(manifests, 'PodMonitor').spec as PodMonitorSpec;

describe('metrics.podMonitor', () => {
  it('is off by default, and renders no metrics Service when on', async () => {
    expect(ofKind(manifestsOf('minimal'), 'PodMonitor')).toEqual([]);
    const manifests = await render({ set: { 'metrics.podMonitor.enabled': 'true' } });
    expect(ofKind(manifests, 'ServiceMonitor')).toEqual([]);
    expect(ofKind(manifests, 'Service').map((s) => s.metadata.name)).not.toContain(
      'ci-customer-intelligence-metrics',
    );
  });

  it("selects the server pods only, on their metrics port, and keeps the ServiceMonitor's job label", async () => {
    const manifests = await render({
      set: {
        'metrics.podMonitor.enabled': 'true',
        'metrics.podMonitor.namespace': 'monitoring',
        'metrics.podMonitor.labels.release': 'kps',
        'metrics.podMonitor.interval': '15s',
        'metrics.podMonitor.scrapeTimeout': '5s',
      },
    });
    const monitor = only(manifests, 'PodMonitor');
    expect(monitor.metadata).toMatchObject({ namespace: 'monitoring', labels: { release: 'kps' } });
    const spec = podMonitorSpec(manifests);
    expect(spec.namespaceSelector).toEqual({ matchNames: ['ml'] });
    const podOwners = manifests.filter((m) => ['Deployment', 'Job', 'CronJob'].includes(m.kind));
    const selected = podOwners.filter((m) =>
      matchesSelector(spec.selector.matchLabels, podTemplateOf(m).metadata.labels),
    );
    expect(selected.map((m) => m.kind)).toEqual(['Deployment']);
    for (const testPod of ofKind(manifests, 'Pod')) {
      expect(matchesSelector(spec.selector.matchLabels, testPod.metadata.labels)).toBe(false);
    }
    expect(spec.podMetricsEndpoints).toEqual([
      {
        port: 'metrics',
        path: '/metrics',
        scheme: 'http',
        interval: '15s',
        scrapeTimeout: '5s',
        relabelings: [JOB],
      },
    ]);
  });

  it('refuses both monitors at once, naming them (every series would be doubled)', async () => {
    const stderr = await helmFailure(
      templateArgs({
        set: { 'metrics.podMonitor.enabled': 'true', 'metrics.serviceMonitor.enabled': 'true' },
      }),
    );
    expect(stderr).toContain('metrics.serviceMonitor.enabled and metrics.podMonitor.enabled: choose one');
  });

  it('refuses a scrape timeout longer than its interval, naming the values', async () => {
    const stderr = await helmFailure(
      templateArgs({
        set: {
          'metrics.podMonitor.enabled': 'true',
          'metrics.podMonitor.interval': '10s',
          'metrics.podMonitor.scrapeTimeout': '11s',
        },
      }),
    );
    expect(stderr).toContain(
      'metrics.podMonitor.scrapeTimeout (11s) must not exceed metrics.podMonitor.interval (10s)',
    );
  });

  it('with the NetworkPolicy on, needs scrapers', async () => {
    const stderr = await helmFailure(
      templateArgs({
        ciCase: 'production',
        set: {
          'metrics.serviceMonitor.enabled': 'false',
          'metrics.podMonitor.enabled': 'true',
          'networkPolicy.scrapers': 'null',
        },
      }),
    );
    expect(stderr).toContain(
      'networkPolicy.enabled with metrics.podMonitor.enabled needs networkPolicy.scrapers',
    );
  });
});

describe('relabelings and metricRelabelings', () => {
  it('ServiceMonitor: none by default, else passed through on its endpoint', async () => {
    const endpoint = (manifests: readonly Manifest[]) =>
      (only(manifests, 'ServiceMonitor').spec as { endpoints: ScrapeEndpoint[] }).endpoints[0]!;
    const plain = endpoint(await render({ set: { 'metrics.serviceMonitor.enabled': 'true' } }));
    expect(plain).not.toHaveProperty('relabelings');
    expect(plain).not.toHaveProperty('metricRelabelings');
    const manifests = await renderWithJson(
      { 'metrics.serviceMonitor.relabelings': [TEAM], 'metrics.serviceMonitor.metricRelabelings': [DROP_GC] },
      { set: { 'metrics.serviceMonitor.enabled': 'true' } },
    );
    expect(endpoint(manifests)).toMatchObject({ relabelings: [TEAM], metricRelabelings: [DROP_GC] });
  });

  it("PodMonitor: after the chart's job relabeling, so one of them may replace it", async () => {
    const manifests = await renderWithJson(
      { 'metrics.podMonitor.relabelings': [TEAM], 'metrics.podMonitor.metricRelabelings': [DROP_GC] },
      { set: { 'metrics.podMonitor.enabled': 'true' } },
    );
    expect(podMonitorSpec(manifests).podMetricsEndpoints[0]).toMatchObject({
      relabelings: [JOB, TEAM],
      metricRelabelings: [DROP_GC],
    });
  });

  it.each([
    ['a misspelt field', { targetLable: 'team' }, '/metrics/serviceMonitor/relabelings/0'],
    ['an unknown action', { action: 'rename' }, '/metrics/serviceMonitor/relabelings/0/action'],
    [
      'a source label that is not a label name',
      { sourceLabels: ['pod-name'] },
      '/metrics/serviceMonitor/relabelings/0/sourceLabels/0',
    ],
  ])('the schema refuses %s', async (_name, relabeling, message) => {
    const stderr = await helmFailure([
      ...templateArgs(),
      '--set-json',
      `metrics.serviceMonitor.relabelings=${JSON.stringify([relabeling])}`,
    ]);
    expect(stderr).toContain(SCHEMA_ERROR);
    expect(stderr).toContain(message);
  });
});

describe('ci/extension-points-values.yaml', () => {
  it('renders a PodMonitor with relabelings, so kubeconform checks it against the CRD', () => {
    const manifests = manifestsOf('extension-points');
    expect(ofKind(manifests, 'ServiceMonitor')).toEqual([]);
    expect(podMonitorSpec(manifests).podMetricsEndpoints[0]).toMatchObject({
      relabelings: [JOB, { sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node' }],
      metricRelabelings: [DROP_GC],
    });
  });
});

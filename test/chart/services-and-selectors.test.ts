import { describe, expect, it } from 'vitest';
import { CI_CASES, render, renderCiCasesOnce } from '../helpers/helm.js';
import {
  matchesSelector,
  ofKind,
  only,
  podSpecOf,
  podTemplateOf,
  type Labels,
  type Manifest,
  type PodSpec,
  type Workload,
} from '../helpers/manifests.js';

// The objects that find the server pods: selectors and labels, the Services, and a batch release of its own,
// whose objects never select the online release's pods (nor the other way round).
const manifestsOf = renderCiCasesOnce();

describe('selectors and labels', () => {
  it.each(CI_CASES)('%s: no selector carries the chart or app version', (ciCase) => {
    for (const selector of selectorsOf(manifestsOf(ciCase))) {
      expect(Object.keys(selector)).not.toContain('helm.sh/chart');
      expect(Object.keys(selector)).not.toContain('app.kubernetes.io/version');
      expect(Object.values(selector).join(' ')).not.toMatch(/\d+\.\d+\.\d+/);
    }
  });

  it.each(CI_CASES)('%s: every object has the app.kubernetes.io labels', (ciCase) => {
    for (const manifest of manifestsOf(ciCase)) {
      expect(manifest.metadata.labels, `${manifest.kind}/${manifest.metadata.name}`).toMatchObject({
        'app.kubernetes.io/name': 'customer-intelligence',
        'app.kubernetes.io/instance': 'ci',
        'app.kubernetes.io/managed-by': 'Helm',
        'app.kubernetes.io/version': expect.any(String),
      });
    }
  });

  it('the Services and the Deployment select the server pods, never the migration, test or batch pods', () => {
    const manifests = manifestsOf('production');
    const deployment = only<Workload>(manifests, 'Deployment');
    const serverLabels = deployment.spec.template.metadata.labels;
    const cronJobs = manifests.filter((m) => m.kind === 'CronJob');
    expect(cronJobs).toHaveLength(4);
    const otherPods = [
      only<Workload>(manifests, 'Job').spec.template.metadata.labels,
      ...ofKind(manifests, 'Pod').map((m) => m.metadata.labels),
      ...cronJobs.map((m) => podTemplateOf(m).metadata.labels),
    ];
    for (const selector of selectorsOf(manifests, { podsOnly: true })) {
      expect(matchesSelector(selector, serverLabels)).toBe(true);
      for (const labels of otherPods) expect(matchesSelector(selector, labels)).toBe(false);
    }
  });
});

describe('Services', () => {
  it('expose the gRPC port as "grpc" with appProtocol grpc, plus a headless Service', () => {
    const services = manifestsOf('minimal').filter((m) => m.kind === 'Service');
    expect(services.map((s) => s.metadata.name).sort()).toEqual([
      'ci-customer-intelligence',
      'ci-customer-intelligence-headless',
    ]);
    for (const service of services) {
      const spec = service.spec as { ports: Array<Record<string, unknown>> };
      expect(spec.ports).toEqual([
        { name: 'grpc', port: 50051, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'grpc' },
      ]);
    }
    const headless = services.find((s) => s.metadata.name.endsWith('-headless'))!;
    expect(headless.spec).toMatchObject({ clusterIP: 'None' });
  });
});

describe('batch traffic on a release of its own (README, Batch CronJobs)', () => {
  it("the batch release's jobs dial its own pods, and neither release names or selects the other's objects", async () => {
    const online = await render({ ciCase: 'production', set: { 'cronJobs.enabled': 'false' } });
    const batch = await render({
      ciCase: 'production',
      release: 'ci-batch',
      set: {
        'dashboards.enabled': 'false',
        'prometheusRule.enabled': 'false',
        'config.batchLaneMaxHoldMs': '0',
      },
    });
    expect(online.filter((manifest) => manifest.kind === 'CronJob')).toEqual([]);
    const scoring = batch.filter((m) => m.kind === 'CronJob' && /-score-/.test(m.metadata.name));
    expect(scoring).toHaveLength(2);
    for (const job of scoring) {
      const env = podSpecOf(job).containers[0]!.env ?? [];
      expect(env.find((variable) => variable.name === 'SCORING_ADDRESS')?.value).toBe(
        'dns:///ci-batch-customer-intelligence-headless.ml.svc:50051',
      );
    }
    const key = (manifest: Manifest) =>
      `${manifest.kind}/${manifest.metadata.namespace ?? 'ml'}/${manifest.metadata.name}`;
    const onlineKeys = new Set(online.map(key));
    expect(batch.map(key).filter((name) => onlineKeys.has(name))).toEqual([]);
    const serverPods = (manifests: readonly Manifest[]) =>
      only<Workload>(manifests, 'Deployment').spec.template.metadata.labels;
    for (const [mine, theirs] of [
      [online, batch],
      [batch, online],
    ] as const) {
      for (const selector of selectorsOf(mine, { podsOnly: true })) {
        expect(matchesSelector(selector, serverPods(theirs)), JSON.stringify(selector)).toBe(false);
      }
    }
  });
});

/**
 * Every label selector in the rendered objects; with `podsOnly`, those that select server pods (a
 * ServiceMonitor selects Services: observability-metrics-and-tracing.test.ts checks it; the batch NetworkPolicy
 * selects the batch pods: cronjobs-network-policy.test.ts checks it).
 */
function selectorsOf(manifests: readonly Manifest[], { podsOnly = false } = {}): Labels[] {
  const selectors: Labels[] = [];
  for (const manifest of manifests) {
    if (podsOnly && manifest.kind === 'ServiceMonitor') continue;
    if (podsOnly && manifest.metadata.labels?.['app.kubernetes.io/component'] === 'batch') continue;
    const spec = manifest.spec as {
      selector?: Labels & { matchLabels?: Labels };
      podSelector?: { matchLabels?: Labels };
      template?: { spec?: PodSpec };
    };
    if (spec === undefined) continue;
    // A Service selects with a plain map; the other kinds with a LabelSelector.
    if (spec.selector)
      selectors.push(manifest.kind === 'Service' ? spec.selector : (spec.selector.matchLabels ?? {}));
    if (spec.podSelector?.matchLabels) selectors.push(spec.podSelector.matchLabels);
    for (const c of spec.template?.spec?.topologySpreadConstraints ?? []) {
      if (c.labelSelector?.matchLabels) selectors.push(c.labelSelector.matchLabels);
    }
  }
  expect(selectors.length).toBeGreaterThan(0);
  return selectors;
}

import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  CI_CASES,
  ciValues,
  matchesSelector,
  only,
  render,
  renderCiCasesOnce,
  podSpecOf,
  podTemplateOf,
  serverContainer,
  type Labels,
  type Manifest,
  type PodSpec,
  type Workload,
} from '../helpers/helm.js';

// The objects around the pods: selectors and labels, Services, HPA, PDB, topology spread, NetworkPolicy.
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
      only(manifests, 'Pod').metadata.labels,
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

describe('autoscaling and disruption', () => {
  it('with the HPA on, the Deployment starts at minReplicas (the live count on a cluster); off, replicaCount', () => {
    // Without a cluster `lookup` finds nothing: what an install renders. test/cluster/autoscaling.test.ts checks
    // that an upgrade keeps the count the HPA chose.
    expect(only<Workload>(manifestsOf('production'), 'Deployment').spec.replicas).toBe(3);
    expect(only<Workload>(manifestsOf('minimal'), 'Deployment').spec.replicas).toBe(2);
  });

  it('the HPA is autoscaling/v2 on the server container CPU and passes behavior through unchanged', async () => {
    const hpa = only(manifestsOf('production'), 'HorizontalPodAutoscaler');
    const values = parse(await readFile(ciValues('production'), 'utf8')) as {
      autoscaling: { behavior: unknown };
    };
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec).toMatchObject({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'ci-customer-intelligence' },
      minReplicas: 3,
      maxReplicas: 20,
      metrics: [
        {
          type: 'ContainerResource',
          containerResource: {
            name: 'cpu',
            container: serverContainer(manifestsOf('production')).name,
            target: { type: 'Utilization', averageUtilization: 60 },
          },
        },
      ],
      behavior: values.autoscaling.behavior,
    });
  });

  it('appends autoscaling.metrics (e.g. in-flight calls per pod from a metrics adapter) after the CPU metric', async () => {
    const manifests = await render({
      ciCase: 'production',
      set: {
        'autoscaling.metrics[0].type': 'Pods',
        'autoscaling.metrics[0].pods.metric.name': 'ci_in_flight_requests',
        'autoscaling.metrics[0].pods.target.type': 'AverageValue',
        'autoscaling.metrics[0].pods.target.averageValue': '40',
      },
    });
    const metrics = (only(manifests, 'HorizontalPodAutoscaler').spec as { metrics: unknown[] }).metrics;
    expect(metrics.map((m) => (m as { type: string }).type)).toEqual(['ContainerResource', 'Pods']);
    expect(metrics[1]).toMatchObject({
      pods: { metric: { name: 'ci_in_flight_requests' }, target: { type: 'AverageValue' } },
    });
  });

  it('refuses an HPA without a CPU request (its target would be meaningless)', async () => {
    await expect(render({ set: { 'autoscaling.enabled': 'true' } })).rejects.toThrow(
      /resources\.requests\.cpu/,
    );
  });

  it('the PodDisruptionBudget allows one pod down at a time', () => {
    expect(only(manifestsOf('minimal'), 'PodDisruptionBudget').spec).toMatchObject({ maxUnavailable: 1 });
  });

  it('spreads server pods over the configured topology keys', () => {
    const deployment = only<Workload>(manifestsOf('production'), 'Deployment');
    const constraints = deployment.spec.template.spec.topologySpreadConstraints!;
    expect(constraints.map((c) => c.topologyKey)).toEqual([
      'topology.kubernetes.io/zone',
      'kubernetes.io/hostname',
    ]);
    for (const c of constraints)
      expect(c.labelSelector?.matchLabels).toEqual(deployment.spec.selector!.matchLabels);
  });

  it('pins the image by digest when one is given', () => {
    expect(serverContainer(manifestsOf('production')).image).toBe(
      'registry.example.com/ml/customer-intelligence@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
    );
    expect(serverContainer(manifestsOf('minimal')).image).toBe('customer-intelligence:0.1.0');
  });
});

describe('NetworkPolicy', () => {
  interface Peer {
    namespaceSelector?: { matchLabels: Labels };
    podSelector?: { matchLabels: Labels };
    ipBlock?: { cidr: string };
  }
  interface PolicySpec {
    policyTypes: string[];
    ingress: Array<{ ports: Array<{ port: number | string; protocol: string }>; from: Peer[] }>;
    egress: Array<{ ports: Array<{ port: number | string; protocol: string }>; to: Peer[] }>;
  }

  it('lets only the allowed clients and the helm test reach the gRPC port, and reaches only Postgres, DNS, Vault, the JWKS endpoint and the OTLP collector', () => {
    const manifests = manifestsOf('production');
    const spec = only(manifests, 'NetworkPolicy', 'server').spec as PolicySpec;
    expect(spec.policyTypes).toEqual(['Ingress', 'Egress']);
    // The second ingress rule is the metrics port for Prometheus (observability.test.ts).
    expect(spec.ingress).toHaveLength(2);
    expect(spec.ingress[0]!.ports).toEqual([{ port: 'grpc', protocol: 'TCP' }]);
    const testPod = only(manifests, 'Pod');
    expect(
      spec.ingress[0]!.from.some(
        (p) => p.podSelector && matchesSelector(p.podSelector.matchLabels, testPod.metadata.labels),
      ),
    ).toBe(true);
    expect(spec.ingress[0]!.from).toContainEqual({
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'checkout' } },
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'checkout' } },
    });
    expect(spec.egress).toEqual([
      { ports: [{ port: 5432, protocol: 'TCP' }], to: [{ ipBlock: { cidr: '10.20.0.0/16' } }] },
      {
        ports: [
          { port: 53, protocol: 'UDP' },
          { port: 53, protocol: 'TCP' },
        ],
        to: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
            podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
          },
        ],
      },
      {
        ports: [{ port: 8200, protocol: 'TCP' }],
        to: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'vault' } },
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'vault' } },
          },
        ],
      },
      { ports: [{ port: 443, protocol: 'TCP' }], to: [{ ipBlock: { cidr: '203.0.113.0/24' } }] },
      { ports: [{ port: 4317, protocol: 'TCP' }], to: [{ ipBlock: { cidr: '10.40.0.10/32' } }] },
    ]);
  });

  it('opens egress to Vault only with a Vault provider, and to the JWKS endpoint only with a JWKS URL', async () => {
    const egressPorts = async (set: Record<string, string>) =>
      (
        only(await render({ ciCase: 'production', set }), 'NetworkPolicy', 'server').spec as PolicySpec
      ).egress.flatMap((rule) => rule.ports.map((p) => p.port));
    // vault-direct: the server's own client needs Vault; no JWKS URL there.
    const direct = only(manifestsOf('vault-direct'), 'NetworkPolicy', 'server').spec as PolicySpec;
    expect(direct.egress).toContainEqual({
      ports: [{ port: 8200, protocol: 'TCP' }],
      to: [{ ipBlock: { cidr: '10.30.0.0/24' } }],
    });
    expect(direct.egress.flatMap((rule) => rule.ports.map((p) => p.port))).not.toContain(443);
    const plain = {
      'secrets.provider': 'existingSecret',
      'database.existingSecret': 'db',
      'database.url': '',
      'database.readUrl': '',
      'auth.apiKeys.existingSecret': 'api-keys',
      'auth.jwt.keySource': 'none',
      'cronJobs.scoring.credential.existingSecret': 'batch-key',
    };
    expect(await egressPorts(plain)).toEqual([5432, 53, 53, 4317]);
  });

  it('refuses a policy that would cut the pods off from Vault or from the JWKS endpoint', async () => {
    await expect(
      render({ ciCase: 'production', set: { 'networkPolicy.vault.peers': 'null' } }),
    ).rejects.toThrow(/networkPolicy\.vault\.cidrs or networkPolicy\.vault\.peers/);
    await expect(
      render({ ciCase: 'vault-direct', set: { 'networkPolicy.vault.cidrs': 'null' } }),
    ).rejects.toThrow(/secrets\.provider=direct needs networkPolicy\.vault\.cidrs/);
    await expect(
      render({ ciCase: 'production', set: { 'networkPolicy.jwks.cidrs': 'null' } }),
    ).rejects.toThrow(/networkPolicy\.jwks\.cidrs or networkPolicy\.jwks\.peers/);
  });

  it('is off by default and refuses to render without the database CIDRs', async () => {
    expect(manifestsOf('minimal').map((m) => m.kind)).not.toContain('NetworkPolicy');
    await expect(render({ set: { 'networkPolicy.enabled': 'true' } })).rejects.toThrow(
      /networkPolicy\.postgres\.cidrs/,
    );
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
 * ServiceMonitor selects Services: observability.test.ts checks it; the batch NetworkPolicy selects the batch
 * pods: cronjobs.test.ts checks it).
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

import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  CHART_DIR,
  helm,
  helmFailure,
  render,
  renderCiCasesOnce,
  renderWithJson,
  templateArgs,
  SCHEMA_ERROR,
} from '../helpers/helm.js';
import { ofKind, only, type CronJob, type Manifest } from '../helpers/manifests.js';

// Exposing the Service outside the cluster (service.nodePort, loadBalancerSourceRanges, externalTrafficPolicy),
// pausing a CronJob (cronJobs.*.suspend) and the PodDisruptionBudget's unhealthyPodEvictionPolicy.
const manifestsOf = renderCiCasesOnce();

interface ServiceSpec {
  type?: string;
  externalTrafficPolicy?: string;
  loadBalancerSourceRanges?: string[];
  ports: Array<{ name: string; nodePort?: number }>;
}

const serviceSpec = (manifests: readonly Manifest[], name = 'ci-customer-intelligence') =>
  ofKind(manifests, 'Service').find((s) => s.metadata.name === name)!.spec as ServiceSpec;

describe('service.nodePort, loadBalancerSourceRanges and externalTrafficPolicy', () => {
  it('are not rendered by default', () => {
    const spec = serviceSpec(manifestsOf('minimal'));
    expect(spec.type).toBe('ClusterIP');
    expect(Object.keys(spec).sort()).toEqual(['ports', 'selector', 'type']);
    expect(spec.ports[0]!.nodePort).toBeUndefined();
  });

  it('NodePort: the fixed node port and the traffic policy, on the gRPC Service only', async () => {
    const manifests = await render({
      set: {
        'service.type': 'NodePort',
        'service.nodePort': '30051',
        'service.externalTrafficPolicy': 'Local',
      },
    });
    const spec = serviceSpec(manifests);
    expect(spec).toMatchObject({ type: 'NodePort', externalTrafficPolicy: 'Local' });
    expect(spec.ports).toEqual([expect.objectContaining({ name: 'grpc', nodePort: 30051 })]);
    expect(spec.loadBalancerSourceRanges).toBeUndefined();
    // The headless Service resolves to the pods; it has no node port or traffic policy.
    expect(serviceSpec(manifests, 'ci-customer-intelligence-headless')).toEqual(
      serviceSpec(manifestsOf('minimal'), 'ci-customer-intelligence-headless'),
    );
  });

  it('LoadBalancer: all three, as given', async () => {
    const manifests = await renderWithJson(
      { 'service.loadBalancerSourceRanges': ['10.0.0.0/8', '2001:db8::/32'] },
      {
        set: {
          'service.type': 'LoadBalancer',
          'service.nodePort': '31000',
          'service.externalTrafficPolicy': 'Cluster',
        },
      },
    );
    expect(serviceSpec(manifests)).toMatchObject({
      type: 'LoadBalancer',
      externalTrafficPolicy: 'Cluster',
      loadBalancerSourceRanges: ['10.0.0.0/8', '2001:db8::/32'],
      ports: [{ name: 'grpc', nodePort: 31000 }],
    });
  });

  it('refuses each with a type it does not apply to, naming them all at once', async () => {
    const stderr = await helmFailure([
      ...templateArgs({ set: { 'service.nodePort': '30051', 'service.externalTrafficPolicy': 'Local' } }),
      '--set-json',
      'service.loadBalancerSourceRanges=["10.0.0.0/8"]',
    ]);
    expect(stderr).toContain(
      'service.nodePort (30051) needs service.type NodePort or LoadBalancer (it is ClusterIP)',
    );
    expect(stderr).toContain(
      'service.externalTrafficPolicy (Local) needs service.type NodePort or LoadBalancer (it is ClusterIP)',
    );
    expect(stderr).toContain(
      'service.loadBalancerSourceRanges needs service.type LoadBalancer (it is ClusterIP)',
    );
    const nodePort = await helmFailure([
      ...templateArgs({ set: { 'service.type': 'NodePort' } }),
      '--set-json',
      'service.loadBalancerSourceRanges=["10.0.0.0/8"]',
    ]);
    expect(nodePort).toContain(
      'service.loadBalancerSourceRanges needs service.type LoadBalancer (it is NodePort)',
    );
  });

  it.each([
    [
      'an unknown traffic policy',
      { 'service.externalTrafficPolicy': 'Global' },
      '/service/externalTrafficPolicy',
    ],
    ['a node port out of range', { 'service.nodePort': '70000' }, '/service/nodePort'],
    [
      'a source range that is not a CIDR',
      { 'service.loadBalancerSourceRanges[0]': 'office' },
      '/service/loadBalancerSourceRanges/0',
    ],
  ])('the schema refuses %s', async (_name, set, message) => {
    const stderr = await helmFailure(templateArgs({ set }));
    expect(stderr).toContain(SCHEMA_ERROR);
    expect(stderr).toContain(message);
  });
});

describe('ci/extension-points-values.yaml', () => {
  it('renders a LoadBalancer with all three, a PDB policy and suspended CronJobs, so kubeconform checks them', () => {
    const manifests = manifestsOf('extension-points');
    expect(serviceSpec(manifests)).toMatchObject({
      type: 'LoadBalancer',
      externalTrafficPolicy: 'Local',
      loadBalancerSourceRanges: ['10.0.0.0/8', '192.168.0.0/16'],
      ports: [{ nodePort: 30051 }],
    });
    expect(only(manifests, 'PodDisruptionBudget').spec).toMatchObject({
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    });
    expect((ofKind(manifests, 'CronJob') as CronJob[]).map((job) => job.spec.suspend ?? false)).toEqual([
      false,
      false,
      true,
      true,
    ]);
  });
});

describe('cronJobs.*.suspend', () => {
  const JOBS = {
    'scoring.churn': 'ci-customer-intelligence-score-churn',
    'scoring.clv': 'ci-customer-intelligence-score-clv',
    training: 'ci-customer-intelligence-train',
    retention: 'ci-customer-intelligence-retention',
  };
  const suspended = (manifests: readonly Manifest[]) =>
    Object.fromEntries(
      (ofKind(manifests, 'CronJob') as CronJob[]).map((job) => [job.metadata.name, job.spec.suspend]),
    );

  it('leaves spec.suspend out by default (Kubernetes: false)', () => {
    expect(suspended(manifestsOf('production'))).toEqual(
      Object.fromEntries(Object.values(JOBS).map((name) => [name, undefined])),
    );
  });

  it.each(Object.entries(JOBS))('cronJobs.%s.suspend suspends %s alone', async (job, name) => {
    const manifests = await render({
      set: { 'cronJobs.enabled': 'true', [`cronJobs.${job}.suspend`]: 'true' },
    });
    expect(suspended(manifests)).toEqual(
      Object.fromEntries(Object.values(JOBS).map((other) => [other, other === name ? true : undefined])),
    );
  });

  it('the schema refuses a suspend that is not a boolean', async () => {
    const stderr = await helmFailure(templateArgs({ set: { 'cronJobs.training.suspend': 'yes' } }));
    expect(stderr).toContain(SCHEMA_ERROR);
    expect(stderr).toContain('/cronJobs/training/suspend');
  });

  describe('NOTES.txt', () => {
    // helm template does not print NOTES.txt; a throw-away copy of the chart wraps it in a ConfigMap.
    let copy: string | undefined;
    afterAll(async () => {
      if (copy) await rm(copy, { recursive: true, force: true });
    });

    it('marks the suspended CronJobs', async () => {
      copy = await mkdtemp(path.join(os.tmpdir(), 'chart-notes-'));
      await cp(CHART_DIR, copy, { recursive: true });
      await writeFile(
        path.join(copy, 'templates/zz-notes.yaml'),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n' +
          '  notes: {{ include (print $.Template.BasePath "/NOTES.txt") . | toJson }}\n',
      );
      const set = { 'cronJobs.enabled': 'true', 'cronJobs.training.suspend': 'true' };
      const { stdout } = await helm([
        ...templateArgs({ chartDir: copy, set }),
        '--show-only',
        'templates/zz-notes.yaml',
      ]);
      const notes = (parse(stdout) as { data: { notes: string } }).data.notes;
      expect(notes).toContain('ci-customer-intelligence-train  "0 1 * * 0"  (suspended)');
      expect(notes).toContain('ci-customer-intelligence-score-churn  "0 2 * * *"  2 shards\n');
    });
  });
});

describe('podDisruptionBudget.unhealthyPodEvictionPolicy', () => {
  const policyOf = (manifests: readonly Manifest[]) =>
    (only(manifests, 'PodDisruptionBudget').spec as { unhealthyPodEvictionPolicy?: string })
      .unhealthyPodEvictionPolicy;

  it('is left to Kubernetes by default', () => {
    expect(policyOf(manifestsOf('minimal'))).toBeUndefined();
  });

  it.each(['IfHealthyBudget', 'AlwaysAllow'])('renders %s', async (policy) => {
    const manifests = await render({ set: { 'podDisruptionBudget.unhealthyPodEvictionPolicy': policy } });
    expect(policyOf(manifests)).toBe(policy);
  });

  it('the schema refuses another policy', async () => {
    const stderr = await helmFailure(
      templateArgs({ set: { 'podDisruptionBudget.unhealthyPodEvictionPolicy': 'Never' } }),
    );
    expect(stderr).toContain(SCHEMA_ERROR);
    expect(stderr).toContain('/podDisruptionBudget/unhealthyPodEvictionPolicy');
  });
});

import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ciValues, render, renderCiCasesOnce } from '../helpers/helm.js';
import { only, serverContainer, type Workload } from '../helpers/manifests.js';

// How many server pods run, where and on what: the HPA, the PodDisruptionBudget, topology spread and the image.
const manifestsOf = renderCiCasesOnce();

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
    await expect(
      render({ set: { 'autoscaling.enabled': 'true', 'resources.requests.cpu': 'null' } }),
    ).rejects.toThrow(/resources\.requests\.cpu/);
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

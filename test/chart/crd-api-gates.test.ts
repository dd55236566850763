import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
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
import { ofKind } from '../helpers/manifests.js';
import { releaseValues } from '../helpers/release.js';

// The objects of CRDs (ServiceMonitor, PodMonitor, PrometheusRule: monitoring.coreos.com/v1; GRPCRoute:
// gateway.networking.k8s.io/v1) render only where the cluster serves their API, as .Capabilities.APIVersions
// tells: otherwise the render fails naming the value, before an install whose pre-install hook has already
// migrated the database would stop at the API server. Every other chart test renders with the APIs
// (CRD_API_VERSIONS in test/helpers/helm.ts); these render with the built-in ones only, as `helm template`
// without --api-versions and a cluster without the CRDs do.

const ROUTE = { 'grpcRoute.enabled': 'true', 'grpcRoute.parentRefs[0].name': 'public' };

describe('without the CRDs', () => {
  it.each([
    [
      'metrics.serviceMonitor.enabled',
      {},
      'monitoring.coreos.com/v1 ServiceMonitor',
      'monitoring.coreos.com/v1/ServiceMonitor',
    ],
    [
      'metrics.podMonitor.enabled',
      {},
      'monitoring.coreos.com/v1 PodMonitor',
      'monitoring.coreos.com/v1/PodMonitor',
    ],
    [
      'prometheusRule.enabled',
      {},
      'monitoring.coreos.com/v1 PrometheusRule',
      'monitoring.coreos.com/v1/PrometheusRule',
    ],
    [
      'grpcRoute.enabled',
      ROUTE,
      'gateway.networking.k8s.io/v1 GRPCRoute',
      'gateway.networking.k8s.io/v1/GRPCRoute',
    ],
  ])('%s fails, naming the value, the API and the --api-versions to pass', async (value, set, api, flag) => {
    const stderr = await helmFailure(templateArgs({ apiVersions: [], set: { ...set, [value]: 'true' } }));
    expect(stderr).toContain(`${value}, but the cluster serves no ${api}: install the`);
    expect(stderr).toContain(`pass --api-versions ${flag})`);
  });

  it("the default values and the cluster tests' values need none of them", async () => {
    expect((await render({ apiVersions: [] })).length).toBeGreaterThan(0);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'chart-no-crds-'));
    try {
      const file = path.join(dir, 'cluster-values.yaml');
      await writeFile(file, stringify(releaseValues('10.0.0.1')));
      const manifests = await render({ apiVersions: [], valuesFiles: [file] });
      for (const kind of ['ServiceMonitor', 'PodMonitor', 'PrometheusRule', 'GRPCRoute'])
        expect(ofKind(manifests, kind), kind).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('with the CRDs', () => {
  it.each([
    ['the group/version', ['monitoring.coreos.com/v1']],
    [
      'kind-qualified entries, as helm install reads them from the cluster',
      ['monitoring.coreos.com/v1/ServiceMonitor', 'monitoring.coreos.com/v1/PrometheusRule'],
    ],
  ])('the ServiceMonitor and PrometheusRule render with %s', async (_name, apiVersions) => {
    const manifests = await render({ ciCase: 'production', apiVersions });
    expect(ofKind(manifests, 'ServiceMonitor')).toHaveLength(1);
    expect(ofKind(manifests, 'PrometheusRule').length).toBeGreaterThan(0);
  });

  it('the GRPCRoute needs GRPCRoute itself: gateway.networking.k8s.io/v1 alone is Gateway API v1.0, without it', async () => {
    const stderr = await helmFailure(
      templateArgs({ apiVersions: ['gateway.networking.k8s.io/v1'], set: ROUTE }),
    );
    expect(stderr).toContain(
      'grpcRoute.enabled, but the cluster serves no gateway.networking.k8s.io/v1 GRPCRoute',
    );
    const manifests = await render({ apiVersions: ['gateway.networking.k8s.io/v1/GRPCRoute'], set: ROUTE });
    expect(ofKind(manifests, 'GRPCRoute')).toHaveLength(1);
  });
});

describe('helm lint', () => {
  // helm lint takes no --api-versions: there the gate's fail only logs (helm/helm#8973) and the objects are
  // still rendered and linted, so the ci/ cases with monitors lint clean (lint-and-render.test.ts).
  it('reports the gate as [INFO] and passes on ci/production-values.yaml', async () => {
    const { stdout, stderr } = await helm([
      'lint',
      CHART_DIR,
      '--strict',
      '--kube-version',
      KUBE_VERSION,
      '--values',
      ciValues('production'),
    ]);
    expect(stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(stdout + stderr).toContain(
      '[INFO] Fail: metrics.serviceMonitor.enabled, but the cluster serves no',
    );
  });
});

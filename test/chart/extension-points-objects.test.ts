import { describe, expect, it } from 'vitest';
import {
  helmFailure,
  render,
  renderCiCasesOnce,
  renderWithJson,
  setJsonArgs,
  templateArgs,
  SCHEMA_ERROR,
} from '../helpers/helm.js';
import { podSpecOf, serverContainer, type Manifest } from '../helpers/manifests.js';

// The objects a user adds (extraObjects) and the registry every image comes from (global.imageRegistry);
// extension-points-labels.test.ts: commonLabels and commonAnnotations.
const manifestsOf = renderCiCasesOnce();

const commonLabels = { 'example.com/billing': 'ml-shared', 'example.com/owner-team': 'ml-platform' };
const commonAnnotations = { 'example.com/owner': 'ml-platform@example.com' };

describe('extraObjects', () => {
  const asString =
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include "customer-intelligence.fullname" . }}-extra\n' +
    '  labels:\n    {{- include "customer-intelligence.labels" . | nindent 4 }}\ndata:\n  size: "1000000"\n';
  const asMap = {
    apiVersion: 'v1',
    kind: 'ResourceQuota',
    metadata: { name: '{{ .Release.Name }}-quota', labels: { 'example.com/team': 'own' } },
    spec: { hard: { pods: 1000000 } },
  };

  it('renders strings and maps through tpl, with commonLabels and commonAnnotations under their own', async () => {
    const manifests = await renderWithJson({
      extraObjects: [asString, asMap],
      commonLabels,
      commonAnnotations,
    });
    const configMap = manifests.find((m) => m.metadata.name === 'ci-customer-intelligence-extra')!;
    expect(configMap.metadata.labels).toMatchObject({ 'app.kubernetes.io/instance': 'ci', ...commonLabels });
    const quota = manifests.find((m) => m.metadata.name === 'ci-quota')!;
    expect(quota.metadata).toEqual({
      name: 'ci-quota',
      labels: { ...commonLabels, 'example.com/team': 'own' },
      annotations: commonAnnotations,
    });
    // Parsed and written again: a quoted number stays a string, a number a number (never 1e+06).
    expect(configMap.data).toEqual({ size: '1000000' });
    expect(quota.spec).toEqual({ hard: { pods: 1000000 } });
  });

  it('renders nothing by default', async () => {
    const kinds = manifestsOf('minimal')
      .map((m) => m.kind)
      .sort();
    expect(kinds).toEqual([
      'ConfigMap',
      'Deployment',
      'Job',
      'Pod',
      'Pod',
      'PodDisruptionBudget',
      'Service',
      'Service',
      'ServiceAccount',
      'ServiceAccount',
    ]);
    expect((await render()).map((m) => m.metadata.name)).not.toContain('ci-customer-intelligence-extra');
  });

  it.each([
    [
      'several documents in one entry',
      `${asString}---\n${asString}`,
      'extraObjects[0] holds several YAML documents',
    ],
    [
      'a list',
      '- a\n- b\n',
      'extraObjects[0] must render to one Kubernetes object with apiVersion, kind and metadata.name',
    ],
    [
      'an object without a name',
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n',
      'extraObjects[0] must render to one Kubernetes object',
    ],
  ])('refuses %s', async (_name, entry, message) => {
    expect(await helmFailure([...templateArgs(), ...setJsonArgs({ extraObjects: [entry] })])).toContain(
      message,
    );
  });
});

describe('ci/extension-points-values.yaml', () => {
  it('renders commonLabels, commonAnnotations, extraObjects and the mirror, so kubeconform checks them', () => {
    const manifests = manifestsOf('extension-points');
    for (const manifest of manifests) {
      expect(manifest.metadata.labels).toMatchObject({ 'example.com/cost-center': 'ml' });
      expect(manifest.metadata.annotations).toMatchObject({ 'example.com/owner': 'ml-platform@example.com' });
    }
    const configMaps = manifests.filter((m) => m.kind === 'ConfigMap').map((m) => m.metadata.name);
    expect(configMaps).toEqual(
      expect.arrayContaining(['ci-customer-intelligence-platform', 'ci-customer-intelligence-log-shipper']),
    );
    expect(serverContainer(manifests).image).toBe('mirror.example.com/customer-intelligence:0.1.0');
  });
});

describe('global.imageRegistry', () => {
  it('prefixes the server image (Deployment, migration hook, CronJobs) and the test image', async () => {
    const registry = 'mirror.example.com:5000/proxy';
    const images = (manifests: readonly Manifest[]) =>
      manifests
        .filter((m) => ['Deployment', 'Job', 'CronJob', 'Pod'].includes(m.kind))
        .map((m) => podSpecOf(m).containers[0]!.image);
    const plain = images(await render({ set: { 'cronJobs.enabled': 'true' } }));
    expect(plain).toEqual(
      expect.arrayContaining([
        'customer-intelligence:0.1.0',
        'ghcr.io/grpc-ecosystem/grpc-health-probe:v0.4.62',
      ]),
    );
    const mirrored = images(
      await render({ set: { 'cronJobs.enabled': 'true', 'global.imageRegistry': registry } }),
    );
    expect(mirrored).toEqual(plain.map((image) => `${registry}/${image}`));
    // A digest-pinned image keeps its digest behind the registry.
    const pinned = await render({
      ciCase: 'production',
      set: { 'global.imageRegistry': 'mirror.example.com' },
    });
    expect(serverContainer(pinned).image).toBe(
      `mirror.example.com/${serverContainer(manifestsOf('production')).image}`,
    );
  });

  it.each(['https://mirror.example.com', 'mirror.example.com/', 'mirror example'])(
    'the schema refuses %j',
    async (registry) => {
      const stderr = await helmFailure(templateArgs({ set: { 'global.imageRegistry': registry } }));
      expect(stderr).toContain(SCHEMA_ERROR);
      expect(stderr).toContain('/global/imageRegistry');
    },
  );
});

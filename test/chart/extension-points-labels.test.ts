import { describe, expect, it } from 'vitest';
import {
  helmFailure,
  renderCiCasesOnce,
  renderWithJson,
  setJsonArgs,
  templateArgs,
  SCHEMA_ERROR,
} from '../helpers/helm.js';
import { ofKind, only, podTemplateOf, type Manifest, type Workload } from '../helpers/manifests.js';

// What every object carries: commonLabels (objects and pods, never selectors) and commonAnnotations (objects, not
// pod templates); extension-points-objects.test.ts: extraObjects and global.imageRegistry.
const manifestsOf = renderCiCasesOnce();

/** production with the CronJobs: every kind of object and pod the chart renders. */
const EVERYTHING = { ciCase: 'production' } as const;

const commonLabels = { 'example.com/billing': 'ml-shared', 'example.com/owner-team': 'ml-platform' };
const commonAnnotations = { 'example.com/owner': 'ml-platform@example.com' };

/** The pod templates of the Deployment, the Jobs and the CronJobs (the test Pod is an object of its own). */
function podTemplates(manifests: readonly Manifest[]) {
  return manifests.filter((m) => ['Deployment', 'Job', 'CronJob'].includes(m.kind)).map(podTemplateOf);
}

/** Every label selector anywhere in the rendered objects (Services, workloads, policies, affinity, monitors). */
function selectors(manifests: readonly Manifest[]): string[] {
  const found: string[] = [];
  const visit = (node: unknown, at: string): void => {
    if (typeof node !== 'object' || node === null) return;
    for (const [key, value] of Object.entries(node)) {
      if (/^(selector|podSelector|namespaceSelector|labelSelector)$/.test(key)) {
        found.push(`${at}/${key}=${JSON.stringify(value)}`);
      }
      visit(value, `${at}/${key}`);
    }
  };
  for (const manifest of manifests) visit(manifest.spec, `${manifest.kind}/${manifest.metadata.name}`);
  return found.sort();
}

describe('commonLabels', () => {
  it('labels every object and every pod of the release', async () => {
    const manifests = await renderWithJson({ commonLabels }, EVERYTHING);
    expect(manifests.map((m) => m.kind)).toEqual(
      expect.arrayContaining(['CronJob', 'ServiceMonitor', 'Pod']),
    );
    for (const manifest of manifests) {
      expect(manifest.metadata.labels, `${manifest.kind}/${manifest.metadata.name}`).toMatchObject(
        commonLabels,
      );
    }
    for (const template of podTemplates(manifests))
      expect(template.metadata.labels).toMatchObject(commonLabels);
  });

  it('never changes a selector (selectors are immutable)', async () => {
    const before = selectors(manifestsOf('production'));
    expect(before.length).toBeGreaterThan(10);
    expect(selectors(await renderWithJson({ commonLabels }, EVERYTHING))).toEqual(before);
  });

  it("gives way to a kind's own labels, and the default objects carry only the chart's labels", async () => {
    const clash = { 'example.com/cost-center': 'shared', release: 'other' };
    const manifests = await renderWithJson({ commonLabels: clash }, EVERYTHING);
    // production: podLabels example.com/cost-center=ml, serviceMonitor.labels release=kps.
    expect(only<Workload>(manifests, 'Deployment').spec.template.metadata.labels).toMatchObject({
      'example.com/cost-center': 'ml',
      release: 'other',
    });
    expect(only<Workload>(manifests, 'Deployment').metadata.labels).toMatchObject(clash);
    expect(only(manifests, 'ServiceMonitor').metadata.labels).toMatchObject({ release: 'kps' });
    const standard =
      /^(helm\.sh\/chart|app\.kubernetes\.io\/(name|instance|version|managed-by|part-of|component))$/;
    for (const manifest of manifestsOf('minimal')) {
      for (const key of Object.keys(manifest.metadata.labels!)) expect(key).toMatch(standard);
    }
  });

  it.each([
    [
      'a label the chart sets itself (its selectors depend on it)',
      { 'app.kubernetes.io/name': 'scoring' },
      "at '/commonLabels/app.kubernetes.io~1name': false schema",
    ],
    [
      'app.kubernetes.io/component',
      { 'app.kubernetes.io/component': 'api' },
      "at '/commonLabels/app.kubernetes.io~1component': false schema",
    ],
    ['a value that is not a label value', { team: 'ML platform' }, "at '/commonLabels/team'"],
    [
      'a key that is not a label key',
      { 'example.com/cost center': 'ml' },
      "additional properties 'example.com/cost center' not allowed",
    ],
  ])('the schema refuses %s', async (_name, labels, message) => {
    const stderr = await helmFailure([...templateArgs(), ...setJsonArgs({ commonLabels: labels })]);
    expect(stderr).toContain(SCHEMA_ERROR);
    expect(stderr).toContain(message);
  });
});

describe('commonAnnotations', () => {
  it("annotates every object, not the pod templates, and keeps the chart's and a kind's own", async () => {
    const manifests = await renderWithJson(
      { commonAnnotations: { ...commonAnnotations, 'example.com/team': 'common' } },
      EVERYTHING,
    );
    const production = manifestsOf('production');
    for (const [index, manifest] of manifests.entries()) {
      const plain = production[index]!.metadata.annotations ?? {};
      // service.annotations of production: example.com/team=ml-platform.
      expect(manifest.metadata.annotations, `${manifest.kind}/${manifest.metadata.name}`).toEqual({
        ...commonAnnotations,
        'example.com/team': 'common',
        ...plain,
      });
    }
    for (const service of ofKind(manifests, 'Service').filter((s) => !s.metadata.name.endsWith('-metrics'))) {
      expect(service.metadata.annotations!['example.com/team']).toBe('ml-platform');
    }
    expect(only(manifests, 'Job').metadata.annotations!['helm.sh/hook']).toBe('pre-install,pre-upgrade');
    // The pod templates keep their own annotations; only the ConfigMap's checksum moves (it covers the
    // ConfigMap's metadata too, so changing commonAnnotations rolls the server pods).
    podTemplates(manifests).forEach((template, index) => {
      const withoutChecksum = (annotations: Record<string, string> = {}) =>
        Object.fromEntries(Object.entries(annotations).filter(([key]) => key !== 'checksum/config'));
      expect(withoutChecksum(template.metadata.annotations)).toEqual(
        withoutChecksum(podTemplates(production)[index]!.metadata.annotations),
      );
    });
  });

  it('the schema refuses helm.sh/hook annotations: they would make every object a hook', async () => {
    const stderr = await helmFailure([
      ...templateArgs(),
      ...setJsonArgs({ commonAnnotations: { 'helm.sh/hook': 'pre-install' } }),
    ]);
    expect(stderr).toContain(SCHEMA_ERROR);
    expect(stderr).toContain("at '/commonAnnotations/helm.sh~1hook': false schema");
  });
});

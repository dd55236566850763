import { beforeAll, describe, expect, it } from 'vitest';
import { CI_CASES, render, renderCiCasesOnce } from '../helpers/helm.js';
import {
  named,
  ofKind,
  only,
  podSpecOf,
  podTemplateOf,
  type Labels,
  type Manifest,
} from '../helpers/manifests.js';

// Every kind of pod the chart makes (server Deployment, migration hook Job, batch CronJobs, helm test Pod)
// takes its own annotations, labels, resources, placement and priority (templates/_pods.tpl): a mesh must be
// told to leave the pods that have to finish without a sidecar, and a namespace quota must admit them.
const manifestsOf = renderCiCasesOnce();

/** The parts of a pod spec these tests read beyond the helpers' PodSpec. */
interface PodSettings {
  priorityClassName?: string;
  nodeSelector?: Labels;
  tolerations?: unknown[];
  affinity?: { nodeAffinity?: unknown; podAffinity?: unknown; podAntiAffinity?: unknown };
  containers: Array<{ name: string; resources?: { requests?: Labels; limits?: Labels } }>;
}

const settingsOf = (owner: Manifest) => podSpecOf(owner) as unknown as PodSettings;

/** The kinds whose objects make pods. */
const POD_OWNERS = ['Deployment', 'Job', 'CronJob', 'Pod'];

/** Sidecars ci/extension-points-values.yaml adds (extraContainers): not the chart's to size. */
const EXTRA_CONTAINERS = new Set(['cloud-sql-proxy']);

/** The pod's own metadata: a Pod's, or its owner's pod template's. */
const podMetadataOf = (owner: Manifest): { labels?: Labels; annotations?: Labels } =>
  owner.kind === 'Pod' ? owner.metadata : podTemplateOf(owner).metadata;

/** One kind of pod: where its values live and how to find it in a render. */
interface PodKind {
  readonly name: string;
  /** Prefix of its values ("" = the top level, the server's). */
  readonly prefix: string;
  /** Prefix of its container's resources (the batch jobs set them per job). */
  readonly resourcesPrefix: string;
  readonly kind: string;
  readonly component: string;
  /** How its name ends, where the kind and component do not tell it apart (the two test pods). */
  readonly suffix?: string;
}

const KINDS: readonly PodKind[] = [
  { name: 'server', prefix: '', resourcesPrefix: '', kind: 'Deployment', component: 'server' },
  {
    name: 'migration',
    prefix: 'migration.',
    resourcesPrefix: 'migration.',
    kind: 'Job',
    component: 'migration',
  },
  {
    name: 'batch',
    prefix: 'cronJobs.',
    resourcesPrefix: 'cronJobs.training.',
    kind: 'CronJob',
    component: 'train',
  },
  {
    name: 'test',
    prefix: 'tests.',
    resourcesPrefix: 'tests.',
    kind: 'Pod',
    component: 'test',
    suffix: '-test-health',
  },
  // The Score test pod shares these values with the health one (test/chart/helm-test-score.test.ts).
];

/** --set values giving each kind settings of its own, told apart by the kind's name. */
function settingsFor({ name, prefix, resourcesPrefix }: PodKind, index: number): Record<string, string> {
  const preferred = `${prefix}affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]`;
  return {
    [`${prefix}podAnnotations.example\\.com/pod-kind`]: name,
    [`${prefix}podLabels.example\\.com/pod-kind`]: name,
    [`${prefix}nodeSelector.example\\.com/pool`]: name,
    [`${prefix}tolerations[0].key`]: `dedicated-${name}`,
    [`${prefix}tolerations[0].operator`]: 'Exists',
    [`${preferred}.weight`]: String(index + 1),
    [`${preferred}.preference.matchExpressions[0].key`]: `example.com/${name}`,
    [`${preferred}.preference.matchExpressions[0].operator`]: 'Exists',
    [`${prefix}priorityClassName`]: `${name}-priority`,
    [`${resourcesPrefix}resources.requests.cpu`]: `${index + 1}00m`,
    [`${resourcesPrefix}resources.limits.memory`]: `${index + 1}00Mi`,
  };
}

describe('each kind of pod takes its own pod settings', () => {
  let manifests: Manifest[];
  beforeAll(async () => {
    // Before these values existed, the schema refused migration.podAnnotations and the rest.
    manifests = await render({
      set: Object.assign({ 'cronJobs.enabled': 'true' }, ...KINDS.map((kind, i) => settingsFor(kind, i))),
    });
  });

  it.each(KINDS.map((kind, index) => [kind.name, kind, index] as const))(
    '%s: annotations, labels, resources, nodeSelector, tolerations, affinity and priorityClassName',
    (_name, kind, index) => {
      const owner = kind.suffix
        ? named(manifests, kind.kind, kind.suffix)
        : only(manifests, kind.kind, kind.component);
      const metadata = podMetadataOf(owner);
      expect(metadata.annotations).toMatchObject({ 'example.com/pod-kind': kind.name });
      expect(metadata.labels).toMatchObject({ 'example.com/pod-kind': kind.name });
      const spec = settingsOf(owner);
      expect(spec.priorityClassName).toBe(`${kind.name}-priority`);
      expect(spec.nodeSelector).toEqual({ 'example.com/pool': kind.name });
      expect(spec.tolerations).toEqual([{ key: `dedicated-${kind.name}`, operator: 'Exists' }]);
      expect(spec.affinity).toEqual({
        nodeAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            {
              weight: index + 1,
              preference: { matchExpressions: [{ key: `example.com/${kind.name}`, operator: 'Exists' }] },
            },
          ],
        },
      });
      expect(spec.containers[0]!.resources).toMatchObject({
        requests: { cpu: `${index + 1}00m` },
        limits: { memory: `${index + 1}00Mi` },
      });
    },
  );

  it("the chart's own annotations and labels win over a kind's", async () => {
    const rendered = await render({
      set: {
        'tests.podAnnotations.helm\\.sh/hook': 'pre-install',
        'tests.podLabels.app\\.kubernetes\\.io/component': 'server',
        'migration.podLabels.app\\.kubernetes\\.io/component': 'server',
      },
    });
    // A test pod that is no longer a test hook, or a hook pod the Services select, would break the release.
    for (const testPod of ofKind(rendered, 'Pod')) {
      expect(testPod.metadata.annotations!['helm.sh/hook']).toBe('test');
      expect(testPod.metadata.labels!['app.kubernetes.io/component']).toBe('test');
    }
    expect(podMetadataOf(only(rendered, 'Job')).labels!['app.kubernetes.io/component']).toBe('migration');
  });
});

describe('defaults', () => {
  it.each(CI_CASES)(
    '%s: no pod the chart makes is BestEffort (a namespace ResourceQuota admits them all)',
    (ciCase) => {
      const owners = manifestsOf(ciCase).filter((m) => POD_OWNERS.includes(m.kind));
      for (const owner of owners) {
        // The chart's own containers; extraContainers and extraInitContainers are the user's to size.
        const own = settingsOf(owner).containers.filter((c) => !EXTRA_CONTAINERS.has(c.name));
        expect(own.length, `${owner.kind}/${owner.metadata.name}`).toBeGreaterThan(0);
        for (const container of own) {
          // A quota on requests.* and limits.* rejects a pod whose containers leave any of them out.
          expect(container.resources, `${owner.kind}/${owner.metadata.name}/${container.name}`).toMatchObject(
            {
              requests: { cpu: expect.anything(), memory: expect.anything() },
              limits: { cpu: expect.anything(), memory: expect.anything() },
            },
          );
        }
      }
    },
  );

  it("the other pods share the server's node pool but not its pod affinity or priority", () => {
    // production sets nodeSelector, tolerations, a nodeAffinity and a podAntiAffinity for the server only,
    // and a priorityClassName for the server and one for the batch pods.
    const manifests = manifestsOf('production');
    const server = settingsOf(only(manifests, 'Deployment'));
    expect(server.affinity).toHaveProperty('podAntiAffinity');
    expect(server.priorityClassName).toBe('high-priority');
    const others = manifests.filter((m) => ['Job', 'CronJob', 'Pod'].includes(m.kind));
    // The migration Job, four CronJobs and the two helm test pods.
    expect(others).toHaveLength(7);
    for (const owner of others) {
      const spec = settingsOf(owner);
      expect(spec.nodeSelector, owner.metadata.name).toEqual(server.nodeSelector);
      expect(spec.tolerations, owner.metadata.name).toEqual(server.tolerations);
      expect(spec.affinity, owner.metadata.name).toEqual({ nodeAffinity: server.affinity!.nodeAffinity });
      expect(spec.priorityClassName, owner.metadata.name).toBe(
        owner.kind === 'CronJob' ? 'batch-low' : undefined,
      );
    }
  });

  it('production tells the mesh to leave the hook, batch and test pods without a sidecar', () => {
    const manifests = manifestsOf('production');
    for (const owner of manifests.filter((m) => ['Job', 'CronJob', 'Pod'].includes(m.kind))) {
      expect(podMetadataOf(owner).annotations, owner.metadata.name).toMatchObject({
        'sidecar.istio.io/inject': 'false',
      });
    }
    expect(podMetadataOf(only(manifests, 'Deployment')).annotations).not.toHaveProperty([
      'sidecar.istio.io/inject',
    ]);
  });
});

import { describe, expect, it } from 'vitest';
import {
  CI_CASES,
  helmFailure,
  renderCiCasesOnce,
  renderWithJson,
  setJsonArgs,
  templateArgs,
  SCHEMA_ERROR,
} from '../helpers/helm.js';
import {
  only,
  ofKind,
  podSpecOf,
  serverContainer,
  SERVER_CONTAINER,
  type Container,
  type Manifest,
} from '../helpers/manifests.js';

// The server pod's extra volumes, mounts and containers (extraVolumes, extraVolumeMounts, extraInitContainers,
// extraContainers): added where they belong, never onto the other pods, and never replacing what the chart
// renders itself (extension-points-env.test.ts: the environment).
const manifestsOf = renderCiCasesOnce();

/** The ci cases that set no extension point: their server pod is the chart's alone. */
const PLAIN_CASES = CI_CASES.filter((ciCase) => ciCase !== 'extension-points');

/** A container as the chart tests read it, with the field native sidecars add. */
type AnyContainer = Container & { restartPolicy?: string };

/** The pods of a rendering other than the server's: migration hook, CronJobs, test pod. */
function otherPods(manifests: readonly Manifest[]): Manifest[] {
  return manifests.filter((m) => ['Job', 'CronJob', 'Pod'].includes(m.kind));
}

const SIDECAR = {
  name: 'log-shipper',
  image: 'registry.example.com/log-shipper:1.2.3',
  securityContext: { runAsNonRoot: true, readOnlyRootFilesystem: true },
};

describe('extraVolumes and extraVolumeMounts', () => {
  const extraVolumes = [
    { name: 'platform-ca', configMap: { name: 'platform-ca' } },
    { name: 'scratch', emptyDir: { sizeLimit: '1Gi' } },
  ];
  const extraVolumeMounts = [{ name: 'platform-ca', mountPath: '/etc/platform-ca', readOnly: true }];

  it('appends them to the server pod and container after their own, and nowhere else', async () => {
    const plain = podSpecOf(only(manifestsOf('minimal'), 'Deployment'));
    const manifests = await renderWithJson(
      { extraVolumes, extraVolumeMounts, extraContainers: [SIDECAR] },
      { set: { 'cronJobs.enabled': 'true' } },
    );
    const spec = podSpecOf(only(manifests, 'Deployment'));
    expect(spec.volumes).toEqual([...plain.volumes!, ...extraVolumes]);
    expect(serverContainer(manifests).volumeMounts).toEqual([
      ...plain.containers[0]!.volumeMounts!,
      ...extraVolumeMounts,
    ]);
    // A sidecar declares its own mounts.
    expect(spec.containers.find((c) => c.name === SIDECAR.name)!.volumeMounts).toBeUndefined();
    for (const pod of otherPods(manifests)) {
      expect(JSON.stringify(podSpecOf(pod)), pod.metadata.name).not.toContain('platform-ca');
    }
  });

  it.each(PLAIN_CASES)(
    '%s: refuses the name of every volume and the path of every mount of the chart',
    async (ciCase) => {
      const manifests = manifestsOf(ciCase);
      const volumes = podSpecOf(only(manifests, 'Deployment')).volumes!.map((v) => v.name);
      const mounts = serverContainer(manifests).volumeMounts!.map((m) => m.mountPath);
      expect(volumes).toContain('tmp');
      const stderr = await helmFailure([
        ...templateArgs({ ciCase }),
        ...setJsonArgs({
          extraVolumes: volumes.map((name) => ({ name, emptyDir: {} })),
          // With a trailing slash: the same directory.
          extraVolumeMounts: mounts.map((mountPath) => ({ name: 'tmp', mountPath: `${mountPath}/` })),
        }),
      ]);
      volumes.forEach((name, index) =>
        expect(stderr).toContain(`extraVolumes[${index}] is named ${name}, a volume of the chart's`),
      );
      mounts.forEach((path, index) =>
        expect(stderr).toContain(
          `extraVolumeMounts[${index}] mounts at ${path}/, where the chart mounts a volume`,
        ),
      );
    },
  );

  it.each([
    [
      'a volume with two sources',
      { extraVolumes: [{ name: 'v', emptyDir: {}, secret: { secretName: 's' } }] },
    ],
    ['a volume without a source', { extraVolumes: [{ name: 'v' }] }],
    ['a volume name that is not a DNS label', { extraVolumes: [{ name: 'My_Volume', emptyDir: {} }] }],
    ['a relative mountPath', { extraVolumeMounts: [{ name: 'tmp', mountPath: 'data' }] }],
    [
      'a mount with subPath and subPathExpr',
      { extraVolumeMounts: [{ name: 'tmp', mountPath: '/d', subPath: 'a', subPathExpr: '$(B)' }] },
    ],
  ])('the schema refuses %s', async (_name, json) => {
    const stderr = await helmFailure([...templateArgs(), ...setJsonArgs(json)]);
    expect(stderr).toContain(SCHEMA_ERROR);
    expect(stderr).toContain(`'/${Object.keys(json)[0]}/0`);
  });
});

describe('extraContainers and extraInitContainers', () => {
  const nativeSidecar = { ...SIDECAR, name: 'proxy', restartPolicy: 'Always', args: ['--port=5432'] };
  const migrateFirst = { ...SIDECAR, name: 'wait-for-db', command: ['/wait-for', 'db:5432'] };

  it('adds the sidecars after the server container and the init containers as given, in the server pod only', async () => {
    const manifests = await renderWithJson(
      { extraContainers: [SIDECAR], extraInitContainers: [migrateFirst, nativeSidecar] },
      { set: { 'cronJobs.enabled': 'true' } },
    );
    const spec = podSpecOf(only(manifests, 'Deployment'));
    // The server stays first: kubectl logs and exec default to it.
    expect(spec.containers.map((c) => c.name)).toEqual([SERVER_CONTAINER, SIDECAR.name]);
    expect(spec.containers[1]).toEqual(SIDECAR);
    expect(spec.initContainers as AnyContainer[]).toEqual([migrateFirst, nativeSidecar]);
    expect(serverContainer(manifests)).toEqual(serverContainer(manifestsOf('minimal')));
    for (const pod of otherPods(manifests)) {
      const other = podSpecOf(pod);
      expect(other.initContainers, pod.metadata.name).toBeUndefined();
      expect(other.containers, pod.metadata.name).toHaveLength(1);
    }
  });

  it('keeps the HPA on the server container alone', async () => {
    const manifests = await renderWithJson(
      { extraContainers: [SIDECAR] },
      { set: { 'autoscaling.enabled': 'true', 'resources.requests.cpu': '500m' } },
    );
    const hpa = only(manifests, 'HorizontalPodAutoscaler').spec as {
      metrics: Array<{ containerResource?: { container: string } }>;
    };
    expect(hpa.metrics[0]!.containerResource!.container).toBe(SERVER_CONTAINER);
  });

  it.each([
    ['a container without an image', { extraContainers: [{ name: 'sidecar' }] }, '/extraContainers/0'],
    [
      'a container name that is not a DNS label',
      { extraContainers: [{ ...SIDECAR, name: 'Side_Car' }] },
      '/extraContainers/0/name',
    ],
    [
      'an unknown container field',
      { extraContainers: [{ ...SIDECAR, imagePullPolcy: 'Always' }] },
      "additional properties 'imagePullPolcy'",
    ],
    [
      'an init container restartPolicy other than Always',
      { extraInitContainers: [{ ...nativeSidecar, restartPolicy: 'Never' }] },
      '/extraInitContainers/0/restartPolicy',
    ],
  ])('the schema refuses %s', async (_name, json, message) => {
    const stderr = await helmFailure([...templateArgs(), ...setJsonArgs(json)]);
    expect(stderr).toContain(SCHEMA_ERROR);
    expect(stderr).toContain(message);
  });
});

describe('ci/extension-points-values.yaml', () => {
  it('renders every extension point of the server pod, so kubeconform and the ci-case checks cover them', () => {
    const manifests = manifestsOf('extension-points');
    const spec = podSpecOf(only(manifests, 'Deployment'));
    const server = serverContainer(manifests);
    expect(server.env!.map((e) => e.name)).toEqual(
      expect.arrayContaining(['NODE_OPTIONS', 'FEATURE_STORE_REGION']),
    );
    // The ConfigMap extraEnvFrom names is one of the release's extraObjects.
    const platform = server.envFrom![0]!.configMapRef!.name;
    expect(ofKind(manifests, 'ConfigMap').map((m) => m.metadata.name)).toContain(platform);
    expect(spec.volumes!.map((v) => v.name)).toEqual(
      expect.arrayContaining(['log-shipper-config', 'shared-logs']),
    );
    expect(server.volumeMounts).toContainEqual({
      name: 'shared-logs',
      mountPath: '/var/log/customer-intelligence',
    });
    expect((spec.initContainers as AnyContainer[]).map((c) => [c.name, c.restartPolicy])).toEqual([
      ['log-shipper', 'Always'],
    ]);
    expect(spec.containers.map((c) => c.name)).toEqual([SERVER_CONTAINER, 'cloud-sql-proxy']);
  });
});

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
import { only, podSpecOf, serverContainer, SERVER_CONTAINER, type Manifest } from '../helpers/manifests.js';

// The server container's extra environment (extraEnv, extraEnvFrom): added where it belongs, never onto the other
// pods, and never replacing a variable the chart sets (extension-points-containers.test.ts: volumes and
// containers). ci/extension-points-values.yaml sets every extension point, so kubeconform and the checks every ci
// case gets cover them too.
const manifestsOf = renderCiCasesOnce();

/** The ci cases that set no extension point: their server pod is the chart's alone. */
const PLAIN_CASES = CI_CASES.filter((ciCase) => ciCase !== 'extension-points');

/** The pods of a rendering other than the server's: migration hook, CronJobs, test pod. */
function otherPods(manifests: readonly Manifest[]): Manifest[] {
  return manifests.filter((m) => ['Job', 'CronJob', 'Pod'].includes(m.kind));
}

describe('without extension values', () => {
  it.each(PLAIN_CASES)('%s: the server pod holds only what the chart renders', (ciCase) => {
    const manifests = manifestsOf(ciCase);
    const spec = podSpecOf(only(manifests, 'Deployment'));
    expect(spec.initContainers).toBeUndefined();
    expect(spec.containers.map((c) => c.name)).toEqual([SERVER_CONTAINER]);
    expect(serverContainer(manifests).envFrom).toEqual([
      { configMapRef: { name: 'ci-customer-intelligence' } },
    ]);
  });
});

describe('extraEnv and extraEnvFrom', () => {
  const extraEnv = [
    { name: 'NODE_OPTIONS', value: '--max-old-space-size=768' },
    { name: 'REGION', valueFrom: { secretKeyRef: { name: 'platform', key: 'region' } } },
    { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
  ];

  it('appends extraEnv to the server container after its own env, as given, and nowhere else', async () => {
    const plain = serverContainer(manifestsOf('minimal')).env!;
    const manifests = await renderWithJson({ extraEnv }, { set: { 'cronJobs.enabled': 'true' } });
    expect(serverContainer(manifests).env).toEqual([...plain, ...extraEnv]);
    for (const pod of otherPods(manifests)) {
      const names = podSpecOf(pod).containers.flatMap((c) => (c.env ?? []).map((e) => e.name));
      expect(names, pod.metadata.name).not.toContain('NODE_OPTIONS');
    }
  });

  it("puts extraEnvFrom before the chart's ConfigMap, so the chart's keys win", async () => {
    const extraEnvFrom = [
      { configMapRef: { name: 'platform-defaults' } },
      { secretRef: { name: 'platform-tokens', optional: true }, prefix: 'PLATFORM_' },
    ];
    const manifests = await renderWithJson({ extraEnvFrom });
    expect(serverContainer(manifests).envFrom).toEqual([
      ...extraEnvFrom,
      { configMapRef: { name: 'ci-customer-intelligence' } },
    ]);
    expect(podSpecOf(only(manifests, 'Job')).containers[0]!.envFrom).toBeUndefined();
  });

  it.each(PLAIN_CASES)('%s: refuses every variable the chart sets, naming each', async (ciCase) => {
    const manifests = manifestsOf(ciCase);
    // What the server container gets from the chart: its ConfigMap's keys and its own env entries.
    const configMap = only(manifests, 'ConfigMap', 'server').data!;
    const env = serverContainer(manifests).env ?? [];
    const chartNames = [...Object.keys(configMap), ...env.map((e) => e.name)];
    expect(chartNames).toContain('GRPC_TLS');
    const stderr = await helmFailure([
      ...templateArgs({ ciCase }),
      ...setJsonArgs({ extraEnv: chartNames.map((name) => ({ name, value: 'x' })) }),
    ]);
    chartNames.forEach((name, index) =>
      expect(stderr).toContain(`extraEnv[${index}] sets ${name}, which the chart sets itself`),
    );
  });

  it('refuses DATABASE_READ_URL only when the chart sets it (database.readUrlKey)', async () => {
    const extraEnv = [{ name: 'DATABASE_READ_URL', value: 'postgres://replica:5432/ci' }];
    expect(serverContainer(await renderWithJson({ extraEnv })).env).toContainEqual(extraEnv[0]);
    const stderr = await helmFailure([
      ...templateArgs({ set: { 'database.readUrlKey': 'read-url' } }),
      ...setJsonArgs({ extraEnv }),
    ]);
    expect(stderr).toContain('extraEnv[0] sets DATABASE_READ_URL, which the chart sets itself');
  });

  it.each([
    ['an entry with both value and valueFrom', { extraEnv: [{ ...extraEnv[1], value: 'x' }] }, '/extraEnv/0'],
    ['an invalid variable name', { extraEnv: [{ name: '1X', value: 'x' }] }, '/extraEnv/0/name'],
    ['an unknown EnvVar field', { extraEnv: [{ name: 'X', vaule: 'x' }] }, "additional properties 'vaule'"],
    [
      'a source naming a ConfigMap and a Secret',
      { extraEnvFrom: [{ configMapRef: { name: 'a' }, secretRef: { name: 'b' } }] },
      '/extraEnvFrom/0',
    ],
  ])('the schema refuses %s', async (_name, json, message) => {
    const stderr = await helmFailure([...templateArgs(), ...setJsonArgs(json)]);
    expect(stderr).toContain(SCHEMA_ERROR);
    expect(stderr).toContain(message);
  });
});

import { describe, expect, it } from 'vitest';
import {
  CI_CASES,
  helmFailure,
  render,
  renderCiCasesOnce,
  renderText,
  SCHEMA_ERROR,
  templateArgs,
} from '../helpers/helm.js';
import {
  named,
  ofKind,
  type Container,
  type EnvVar,
  type Manifest,
  type PodSpec,
} from '../helpers/manifests.js';
import { SAMPLE_FEATURES } from '../helpers/sample-features.js';

// `helm test` makes an authenticated Score call through the Service (templates/tests/test-score.yaml): the
// server image's score-cli, with the credential from the Secret tests.score.credential names and the TLS files
// of tests.tls, so a wrong key fails `helm test` with UNAUTHENTICATED (test/cluster/release-lifecycle.test.ts
// runs it on a real cluster).
const manifestsOf = renderCiCasesOnce();

/** The parts of the test pods these tests read beyond the helpers' Pod. */
interface TestPod extends Manifest {
  spec: Omit<PodSpec, 'containers' | 'volumes'> & {
    restartPolicy?: string;
    enableServiceLinks?: boolean;
    imagePullSecrets?: unknown[];
    containers: Array<Container & { resources?: unknown }>;
    volumes?: Array<{
      name: string;
      secret?: { secretName: string; defaultMode?: number; items: Array<{ key: string; path: string }> };
    }>;
  };
}

const scorePod = (manifests: readonly Manifest[]) => named<TestPod>(manifests, 'Pod', '-test-score');
const healthPod = (manifests: readonly Manifest[]) => named<TestPod>(manifests, 'Pod', '-test-health');
const container = (pod: TestPod) => pod.spec.containers[0]!;
const env = (pod: TestPod) =>
  Object.fromEntries((container(pod).env ?? []).map((e: EnvVar) => [e.name, e.value]));
const volume = (pod: TestPod, name: string) => pod.spec.volumes?.find((v) => v.name === name);

/** auth.mode=required with API keys, over the minimal case. */
const API_KEYS = {
  'auth.mode': 'required',
  'auth.apiKeys.enabled': 'true',
  'auth.apiKeys.existingSecret': 'api-keys',
};

describe('the Score test pod', () => {
  it('calls ListModels and Score through the Service with the server image, every sample feature inline', () => {
    const manifests = manifestsOf('minimal');
    const pod = scorePod(manifests);
    expect(pod.metadata.name).toBe('ci-customer-intelligence-test-score');
    expect(pod.metadata.annotations).toMatchObject({
      'helm.sh/hook': 'test',
      'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded',
    });
    const deployment = ofKind(manifests, 'Deployment')[0]!;
    const serverImage = (deployment.spec as { template: TestPod }).template.spec.containers[0]!.image;
    expect(container(pod).image).toBe(serverImage);
    expect(container(pod).command).toBeUndefined(); // the image's ENTRYPOINT, node
    // A fresh release has no customers: every feature of the bundled models goes inline (no store read).
    const features = Object.entries(SAMPLE_FEATURES)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([name, value]) => `--feature=${name}=${value}`);
    expect(container(pod).args).toEqual([
      'dist/client/src/score-cli.js',
      '--address=ci-customer-intelligence.ml.svc:50051',
      '--model=all',
      ...features,
    ]);
    // auth.mode none: no credential; plaintext chosen explicitly, as grpc.tls.mode says.
    expect(env(pod)).toEqual({ SCORING_TLS: 'plaintext' });
    expect(pod.spec.volumes).toBeUndefined();
  });

  it('presents the API key from the Secret tests.score.credential names, read from a file', async () => {
    const pod = scorePod(
      await render({
        set: {
          ...API_KEYS,
          'tests.score.credential.existingSecret': 'test-key',
          'tests.score.credential.key': 'k',
        },
      }),
    );
    expect(env(pod)).toEqual({
      SCORING_TLS: 'plaintext',
      SCORING_API_KEY_FILE: '/etc/customer-intelligence/test-credential/api-key',
    });
    expect(volume(pod, 'credential')?.secret).toEqual({
      secretName: 'test-key',
      defaultMode: 288,
      items: [{ key: 'k', path: 'api-key' }],
    });
    expect(container(pod).volumeMounts).toEqual([
      { name: 'credential', mountPath: '/etc/customer-intelligence/test-credential', readOnly: true },
    ]);
  });

  it('presents a JWT from a Secret with credential.type bearerToken', async () => {
    const pod = scorePod(
      await render({
        set: {
          'auth.mode': 'required',
          'auth.jwt.keySource': 'jwksUrl',
          'auth.jwt.jwksUrl': 'https://login.example.com/jwks.json',
          'auth.jwt.issuer': 'https://login.example.com/',
          'auth.jwt.audience': 'scoring',
          'tests.score.credential.type': 'bearerToken',
          'tests.score.credential.existingSecret': 'test-token',
          'tests.score.credential.key': 'token',
        },
      }),
    );
    expect(env(pod).SCORING_BEARER_TOKEN_FILE).toBe(
      '/etc/customer-intelligence/test-credential/bearer-token',
    );
    expect(env(pod).SCORING_API_KEY_FILE).toBeUndefined();
    expect(volume(pod, 'credential')?.secret?.items).toEqual([{ key: 'token', path: 'bearer-token' }]);
  });

  it('speaks mTLS with the files of tests.tls.existingSecret, as the health probe does', () => {
    const manifests = manifestsOf('production');
    const pod = scorePod(manifests);
    const dir = '/etc/customer-intelligence/test-tls';
    expect(env(pod)).toEqual({
      SCORING_TLS: 'tls',
      SCORING_TLS_CA_FILE: `${dir}/ca.crt`,
      SCORING_TLS_CERT_FILE: `${dir}/tls.crt`,
      SCORING_TLS_KEY_FILE: `${dir}/tls.key`,
      SCORING_API_KEY_FILE: '/etc/customer-intelligence/test-credential/api-key',
    });
    expect(volume(pod, 'tls')).toEqual(volume(healthPod(manifests), 'tls'));
    expect(volume(pod, 'tls')?.secret?.secretName).toBe('customer-intelligence-test-client');
    expect(volume(pod, 'credential')?.secret?.secretName).toBe('customer-intelligence-test-api-key');
  });

  it('speaks TLS without a client certificate with grpc.tls.mode tls', () => {
    const pod = scorePod(manifestsOf('vault-direct'));
    expect(env(pod)).toEqual({
      SCORING_TLS: 'tls',
      SCORING_TLS_CA_FILE: '/etc/customer-intelligence/test-tls/ca.crt',
      SCORING_BEARER_TOKEN_FILE: '/etc/customer-intelligence/test-credential/bearer-token',
    });
    expect(volume(pod, 'tls')?.secret?.items).toEqual([{ key: 'ca.crt', path: 'ca.crt' }]);
  });

  it('never carries the credential itself: only the Secret name and key', async () => {
    const text = await renderText({ ciCase: 'production' });
    const pod = scorePod(manifestsOf('production'));
    expect(JSON.stringify(pod)).not.toMatch(/x-api-key|SCORING_API_KEY"/);
    expect(text).not.toContain('kind: Secret');
  });

  it('is the same pod as the health test apart from its container and volumes', async () => {
    const manifests = await render({
      set: {
        'tests.podAnnotations.example\\.com/mesh': 'off',
        'tests.podLabels.example\\.com/team': 'ml',
        'tests.nodeSelector.example\\.com/pool': 'tests',
        'tests.priorityClassName': 'low',
        'imagePullSecrets[0].name': 'registry',
      },
    });
    const score = scorePod(manifests);
    const health = healthPod(manifests);
    const { containers: _s, volumes: _sv, ...scoreSpec } = score.spec;
    const { containers: _h, volumes: _hv, ...healthSpec } = health.spec;
    expect(scoreSpec).toEqual(healthSpec);
    expect(scoreSpec).toMatchObject({
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      nodeSelector: { 'example.com/pool': 'tests' },
      priorityClassName: 'low',
    });
    expect(score.metadata.labels).toEqual(health.metadata.labels);
    expect(score.metadata.annotations).toEqual(health.metadata.annotations);
    expect(score.metadata.annotations).toMatchObject({ 'example.com/mesh': 'off' });
    expect(container(score).securityContext).toEqual(container(health).securityContext);
  });

  it('has requests and limits of its own (tests.score.resources)', async () => {
    expect(container(scorePod(manifestsOf('minimal'))).resources).toEqual({
      requests: { cpu: '50m', memory: '128Mi' },
      limits: { cpu: '500m', memory: '256Mi' },
    });
    const pod = scorePod(await render({ set: { 'tests.score.resources.limits.cpu': 'null' } }));
    expect(container(pod).resources).toEqual({
      requests: { cpu: '50m', memory: '128Mi' },
      limits: { memory: '256Mi' },
    });
  });

  it('scores the model and features tests.score names (merged into the defaults; null drops one)', async () => {
    const pod = scorePod(
      await render({
        set: {
          'tests.score.model': 'churn',
          'tests.score.features.plan_tier': '2',
          'tests.score.features.spend_12m': 'null',
        },
      }),
    );
    const args = container(pod).args ?? [];
    expect(args).toContain('--model=churn');
    expect(args).toContain('--feature=plan_tier=2');
    expect(args.filter((arg) => arg.startsWith('--feature=spend_12m'))).toEqual([]);
    expect(args.filter((arg) => arg.startsWith('--feature='))).toHaveLength(10);
  });

  it('is left out with tests.score.enabled=false or tests.enabled=false', async () => {
    const off = await render({ set: { 'tests.score.enabled': 'false' } });
    expect(ofKind(off, 'Pod').map((pod) => pod.metadata.name)).toEqual([
      'ci-customer-intelligence-test-health',
    ]);
    expect(ofKind(await render({ set: { 'tests.enabled': 'false' } }), 'Pod')).toEqual([]);
  });
});

describe('the Score test pod refuses, naming the value', () => {
  it.each([
    [
      'auth required without a credential Secret',
      API_KEYS,
      'tests.score with auth.mode=required needs tests.score.credential.existingSecret: a Secret holding an API key with the scorer role (or set tests.score.enabled=false)',
    ],
    [
      'an API key while the server takes none',
      {
        'auth.mode': 'required',
        'auth.jwt.keySource': 'hs256Secret',
        'auth.jwt.hs256Secret.existingSecret': 'jwt',
        'auth.jwt.issuer': 'https://ci.example.com/',
        'auth.jwt.audience': 'scoring',
        'tests.score.credential.existingSecret': 'test-key',
      },
      'tests.score.credential.type=apiKey needs auth.apiKeys.enabled',
    ],
    [
      'a JWT while the server verifies none',
      {
        ...API_KEYS,
        'tests.score.credential.type': 'bearerToken',
        'tests.score.credential.existingSecret': 't',
      },
      'tests.score.credential.type=bearerToken needs an auth.jwt.keySource',
    ],
  ])('%s', async (_name, set, message) => {
    expect(await helmFailure(templateArgs({ set }))).toContain(message);
  });

  it.each([
    ['a feature that is not a number', { 'tests.score.features.plan_tier': 'gold' }, '/tests/score/features'],
    ['a model name with a space', { 'tests.score.model': 'churn v2' }, '/tests/score/model'],
    ['a misspelt key', { 'tests.score.modell': 'churn' }, "additional properties 'modell' not allowed"],
    [
      'an unknown credential type',
      { 'tests.score.credential.type': 'password' },
      '/tests/score/credential/type',
    ],
  ])('the schema refuses %s', async (_name, set, message) => {
    const stderr = await helmFailure(templateArgs({ set }));
    expect(stderr).toContain(SCHEMA_ERROR);
    expect(stderr).toContain(message);
  });
});

describe('every ci case', () => {
  it.each(CI_CASES.filter((ciCase) => ciCase !== 'everything-off'))(
    '%s: renders the Score test pod beside the health one',
    (ciCase) => {
      expect(
        ofKind(manifestsOf(ciCase), 'Pod')
          .map((pod) => pod.metadata.name)
          .sort(),
      ).toEqual(['ci-customer-intelligence-test-health', 'ci-customer-intelligence-test-score']);
    },
  );
});

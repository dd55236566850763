import { describe, expect, it } from 'vitest';
import {
  CI_CASES,
  only,
  podSpecOf,
  render,
  renderCiCasesOnce,
  renderText,
  serverContainer,
  type Container,
  type Labels,
  type Manifest,
  type PodSpec,
  type Workload,
} from '../helpers/helm.js';

// Transport security, authentication and where secrets come from (Kubernetes Secrets, the Vault Agent
// injector, or the server's own Vault client), on the rendered objects.
const manifestsOf = renderCiCasesOnce();

const INJECT = 'vault.hashicorp.com/agent-inject';
const VAULT_SECRETS = '/vault/secrets';

interface Volume {
  name: string;
  secret?: { secretName: string; defaultMode?: number; items?: Array<{ key: string; path: string }> };
  configMap?: { name: string; items?: Array<{ key: string; path: string }> };
  emptyDir?: { medium?: string; sizeLimit?: string };
  projected?: { sources: Array<{ serviceAccountToken?: { path: string; audience?: string } }> };
}
interface Mount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  subPath?: string;
}

const volumesOf = (spec: PodSpec) => (spec.volumes ?? []) as Volume[];
const mountsOf = (container: Container) => (container.volumeMounts ?? []) as Mount[];
const podAnnotations = (owner: Manifest): Labels =>
  (owner as Workload).spec.template.metadata.annotations ?? {};
const serverConfig = (manifests: readonly Manifest[]) => only(manifests, 'ConfigMap', 'server').data!;

/** The file a variable names must be a mounted file: from a volume, or written by the Vault Agent. */
function fileSource(manifests: readonly Manifest[], file: string): string | undefined {
  const deployment = only<Workload>(manifests, 'Deployment');
  const mount = mountsOf(serverContainer(manifests)).find((m) => file.startsWith(`${m.mountPath}/`));
  if (mount !== undefined) return `volume ${mount.name}`;
  const annotations = podAnnotations(deployment);
  const name = file.slice(VAULT_SECRETS.length + 1);
  if (
    file.startsWith(`${VAULT_SECRETS}/`) &&
    annotations[`vault.hashicorp.com/agent-inject-secret-${name}`]
  ) {
    return `vault agent ${name}`;
  }
  return undefined;
}

/** A production render switched to another secrets provider (or other values). */
const production = (set: Record<string, string>) => render({ ciCase: 'production', set });

describe('TLS', () => {
  it('mounts the cert-manager Secret read-only, without subPath, and points the TLS files into it', () => {
    const manifests = manifestsOf('production');
    const spec = podSpecOf(only(manifests, 'Deployment'));
    expect(volumesOf(spec)).toContainEqual({
      name: 'tls',
      secret: {
        secretName: 'customer-intelligence-tls',
        defaultMode: 0o440,
        items: [
          { key: 'tls.crt', path: 'tls.crt' },
          { key: 'tls.key', path: 'tls.key' },
          { key: 'ca.crt', path: 'client-ca.crt' },
        ],
      },
    });
    // No subPath: kubelet updates the files in place when cert-manager renews, and the server re-reads them.
    expect(mountsOf(serverContainer(manifests))).toContainEqual({
      name: 'tls',
      mountPath: '/etc/customer-intelligence/tls',
      readOnly: true,
    });
    expect(serverConfig(manifests)).toMatchObject({
      GRPC_TLS: 'mtls',
      TLS_CERT_FILE: '/etc/customer-intelligence/tls/tls.crt',
      TLS_KEY_FILE: '/etc/customer-intelligence/tls/tls.key',
      TLS_CLIENT_CA_FILE: '/etc/customer-intelligence/tls/client-ca.crt',
      TLS_RELOAD_INTERVAL_MS: '30000',
    });
  });

  it('takes the client CA from its own Secret when one is named', async () => {
    const manifests = await production({
      'grpc.tls.clientCa.existingSecret': 'partner-ca',
      'grpc.tls.clientCa.key': 'bundle.pem',
    });
    const volumes = volumesOf(podSpecOf(only(manifests, 'Deployment')));
    expect(volumes.find((v) => v.name === 'tls')!.secret!.items!.map((i) => i.key)).toEqual([
      'tls.crt',
      'tls.key',
    ]);
    expect(volumes).toContainEqual({
      name: 'client-ca',
      secret: {
        secretName: 'partner-ca',
        defaultMode: 0o440,
        items: [{ key: 'bundle.pem', path: 'ca.crt' }],
      },
    });
    expect(serverConfig(manifests).TLS_CLIENT_CA_FILE).toBe('/etc/customer-intelligence/client-ca/ca.crt');
  });

  it('with plaintext: no certificate, no health port, probes on the gRPC port', () => {
    const manifests = manifestsOf('minimal');
    const data = serverConfig(manifests);
    expect(data.GRPC_TLS).toBe('plaintext');
    expect(Object.keys(data).filter((name) => name.startsWith('TLS_') || name === 'HEALTH_PORT')).toEqual([]);
    expect(serverContainer(manifests).ports!.map((p) => p.name)).toEqual(['grpc', 'metrics']);
    expect(volumesOf(podSpecOf(only(manifests, 'Deployment'))).map((v) => v.name)).toEqual([
      'tmp',
      'audit-spill',
    ]);
  });

  it('keeps the plaintext health port off every Service', () => {
    for (const ciCase of ['production', 'vault-direct']) {
      const healthPort = Number(serverConfig(manifestsOf(ciCase)).HEALTH_PORT);
      expect(healthPort).toBe(50052);
      for (const service of manifestsOf(ciCase).filter((m) => m.kind === 'Service')) {
        const ports = (service.spec as { ports: Array<{ port: number; targetPort: number | string }> }).ports;
        for (const port of ports) expect([port.port, port.targetPort]).not.toContain(healthPort);
        expect(ports.map((p) => p.targetPort)).not.toContain('health');
      }
    }
  });

  it.each([
    [{ 'grpc.tls.existingSecret': '' }, 'grpc.tls.mode=mtls needs grpc.tls.existingSecret'],
    [{ 'grpc.healthPort': '50051' }, 'grpc.healthPort must differ from containerPort and metrics.port'],
    [{ 'grpc.healthPort': '9464' }, 'grpc.healthPort must differ from containerPort and metrics.port'],
    [
      { 'tests.tls.existingSecret': '' },
      'tests.enabled with grpc.tls.mode=mtls needs tests.tls.existingSecret',
    ],
  ])('refuses %j with a message naming the value', async (set, message) => {
    // With the existingSecret provider, so Vault is no fallback for the certificate.
    await expect(
      production({
        'secrets.provider': 'existingSecret',
        'database.existingSecret': 'db',
        'database.url': '',
        'database.readUrl': '',
        'auth.apiKeys.existingSecret': 'keys',
        ...set,
      }),
    ).rejects.toThrow(message);
  });

  it('helm test verifies the server certificate and, with mtls, presents a client certificate', () => {
    const pod = only(manifestsOf('production'), 'Pod', 'test');
    const container = podSpecOf(pod).containers[0]!;
    expect(container.args).toEqual(
      expect.arrayContaining([
        '-tls',
        '-tls-ca-cert=/etc/customer-intelligence/test-tls/ca.crt',
        '-tls-client-cert=/etc/customer-intelligence/test-tls/tls.crt',
        '-tls-client-key=/etc/customer-intelligence/test-tls/tls.key',
      ]),
    );
    expect(container.args!.join(' ')).not.toContain('-tls-no-verify');
    expect(volumesOf(podSpecOf(pod))).toEqual([
      {
        name: 'tls',
        secret: {
          secretName: 'customer-intelligence-test-client',
          defaultMode: 0o440,
          items: ['ca.crt', 'tls.crt', 'tls.key'].map((key) => ({ key, path: key })),
        },
      },
    ]);
    const tlsOnly = podSpecOf(only(manifestsOf('vault-direct'), 'Pod', 'test')).containers[0]!.args!;
    expect(tlsOnly).toContain('-tls');
    expect(tlsOnly.join(' ')).not.toContain('-tls-client-cert');
    // With tls only the CA travels to the test pod, even when the Secret is the server's own.
    const tlsOnlyVolume = volumesOf(podSpecOf(only(manifestsOf('vault-direct'), 'Pod', 'test')))[0]!;
    expect(tlsOnlyVolume.secret!.items).toEqual([{ key: 'ca.crt', path: 'ca.crt' }]);
    expect(
      podSpecOf(only(manifestsOf('minimal'), 'Pod', 'test')).containers[0]!.args!.join(' '),
    ).not.toContain('-tls');
  });
});

describe('authentication', () => {
  it('production: API keys from Vault and JWTs verified against the JWKS URL', () => {
    expect(serverConfig(manifestsOf('production'))).toMatchObject({
      AUTH_MODE: 'required',
      API_KEYS_FILE: '/vault/secrets/api_keys',
      JWT_JWKS_URL: 'https://login.example.com/.well-known/jwks.json',
      JWT_ISSUER: 'https://login.example.com/',
      JWT_AUDIENCE: 'customer-intelligence',
      JWT_ROLES_CLAIM: 'ci_roles',
      RATE_LIMITS: 'scorer=500:1000,batch=20:40,admin=5:10',
      MAX_IN_FLIGHT: '256',
      REFLECTION_ENABLED: 'false',
    });
    expect(serverConfig(manifestsOf('production'))).not.toHaveProperty('JWT_MAX_TOKEN_AGE_S');
  });

  it('bounds the token age when auth.jwt.maxTokenAgeSeconds is set', async () => {
    const manifests = await production({ 'auth.jwt.maxTokenAgeSeconds': '900' });
    expect(serverConfig(manifests).JWT_MAX_TOKEN_AGE_S).toBe('900');
  });

  it('mounts the API key list, a JWKS ConfigMap or an HS256 Secret from Kubernetes when named', async () => {
    const manifests = await production({
      'auth.apiKeys.existingSecret': 'api-keys',
      'auth.apiKeys.key': 'keys.json',
      'auth.jwt.keySource': 'jwksFile',
      'auth.jwt.jwksFile.existingConfigMap': 'issuer-jwks',
    });
    const volumes = volumesOf(podSpecOf(only(manifests, 'Deployment')));
    expect(volumes).toContainEqual({
      name: 'api-keys',
      secret: {
        secretName: 'api-keys',
        defaultMode: 0o440,
        items: [{ key: 'keys.json', path: 'api-keys.json' }],
      },
    });
    expect(volumes).toContainEqual({
      name: 'jwks',
      configMap: { name: 'issuer-jwks', items: [{ key: 'jwks.json', path: 'jwks.json' }] },
    });
    const data = serverConfig(manifests);
    expect(data).toMatchObject({
      API_KEYS_FILE: '/etc/customer-intelligence/api-keys/api-keys.json',
      JWT_JWKS_FILE: '/etc/customer-intelligence/jwks/jwks.json',
    });
    expect(data.JWT_JWKS_URL).toBeUndefined();
    const hs256 = await production({
      'auth.jwt.keySource': 'hs256Secret',
      'auth.jwt.hs256Secret.existingSecret': 'jwt',
    });
    expect(volumesOf(podSpecOf(only(hs256, 'Deployment')))).toContainEqual({
      name: 'jwt-secret',
      secret: {
        secretName: 'jwt',
        defaultMode: 0o440,
        items: [{ key: 'jwt-hs256-secret', path: 'hs256-secret' }],
      },
    });
    expect(serverConfig(hs256).JWT_HS256_SECRET_FILE).toBe('/etc/customer-intelligence/jwt/hs256-secret');
  });

  it.each([
    [
      { 'auth.apiKeys.enabled': 'false', 'auth.jwt.keySource': 'none' },
      'auth.mode=required needs auth.apiKeys.enabled or an auth.jwt.keySource',
    ],
    [{ 'auth.jwt.issuer': '' }, 'auth.jwt.keySource=jwksUrl needs auth.jwt.issuer and auth.jwt.audience'],
    [{ 'auth.jwt.jwksUrl': '' }, 'auth.jwt.keySource=jwksUrl needs auth.jwt.jwksUrl'],
    [
      {
        'auth.jwt.keySource': 'jwksFile',
        'auth.jwt.jwksFile.existingConfigMap': 'a',
        'auth.jwt.jwksFile.existingSecret': 'b',
      },
      'needs exactly one of auth.jwt.jwksFile.existingConfigMap and auth.jwt.jwksFile.existingSecret',
    ],
    [
      {
        'secrets.provider': 'existingSecret',
        'database.existingSecret': 'db',
        'database.url': '',
        'database.readUrl': '',
      },
      'auth.apiKeys.enabled needs auth.apiKeys.existingSecret',
    ],
  ])('refuses %j', async (set, message) => {
    await expect(production(set)).rejects.toThrow(message);
  });
});

describe('secrets providers', () => {
  const variants = async () => [
    ...CI_CASES.map((ciCase) => ({ name: ciCase, manifests: manifestsOf(ciCase) })),
    {
      name: 'production as direct',
      // Without Vault access the CronJobs' credential and database URL come from Secrets, as the migration's
      // URL does.
      manifests: await production({
        'secrets.provider': 'direct',
        'migration.enabled': 'false',
        'cronJobs.scoring.credential.existingSecret': 'batch-key',
        'cronJobs.database.existingSecret': 'batch-db',
      }),
    },
  ];

  it('the server container gets a service-account token only in direct mode, and never the automounted one', async () => {
    for (const { name, manifests } of await variants()) {
      const config = serverConfig(manifests);
      const direct = config.VAULT_ADDR !== undefined;
      for (const owner of manifests.filter((m) => ['Deployment', 'Job', 'CronJob', 'Pod'].includes(m.kind))) {
        expect(podSpecOf(owner).automountServiceAccountToken, `${name} ${owner.kind}`).toBe(false);
      }
      const spec = podSpecOf(only(manifests, 'Deployment'));
      const tokenVolumes = volumesOf(spec).filter((v) =>
        v.projected?.sources.some((s) => s.serviceAccountToken),
      );
      const mounted = mountsOf(serverContainer(manifests)).filter((m) =>
        tokenVolumes.some((v) => v.name === m.name),
      );
      expect(mounted.length > 0, name).toBe(direct);
      if (direct) {
        expect(mounted).toEqual([
          { name: 'vault-token', mountPath: '/var/run/secrets/vault', readOnly: true },
        ]);
        expect(config.VAULT_K8S_TOKEN_FILE).toBe('/var/run/secrets/vault/token');
      }
    }
  });

  it('injector annotations appear only with the injector, on the Deployment and the migration Job', async () => {
    for (const { name, manifests } of await variants()) {
      const injector = name === 'production';
      for (const owner of manifests.filter((m) => m.kind === 'Deployment' || m.kind === 'Job')) {
        const vaultAnnotations = Object.keys(podAnnotations(owner)).filter((k) =>
          k.startsWith('vault.hashicorp.com/'),
        );
        expect(vaultAnnotations.length > 0, `${name} ${owner.kind}`).toBe(injector);
      }
    }
    const deployment = podAnnotations(only(manifestsOf('production'), 'Deployment'));
    expect(deployment).toMatchObject({
      [INJECT]: 'true',
      'vault.hashicorp.com/role': 'customer-intelligence',
      'vault.hashicorp.com/auth-path': 'auth/kubernetes',
      'vault.hashicorp.com/service': 'https://vault.vault.svc:8200',
      'vault.hashicorp.com/tls-secret': 'vault-ca',
      'vault.hashicorp.com/ca-cert': '/vault/tls/ca.crt',
      'vault.hashicorp.com/agent-service-account-token-volume-name': 'vault-token',
      'vault.hashicorp.com/agent-inject-secret-api_keys': 'secret/data/ml/customer-intelligence',
      'vault.hashicorp.com/agent-inject-template-api_keys':
        '{{- with secret "secret/data/ml/customer-intelligence" -}}{{ .Data.data.api_keys }}{{- end -}}',
      'vault.hashicorp.com/agent-inject-perms-api_keys': '0400',
      'vault.hashicorp.com/agent-limits-mem': '64Mi',
    });
    // The server's pods keep a sidecar, so rotated credentials reach the files it watches.
    expect(deployment['vault.hashicorp.com/agent-pre-populate-only']).toBeUndefined();
    // The agent's login token volume exists (projected, Vault's audience) but the server does not mount it.
    const spec = podSpecOf(only(manifestsOf('production'), 'Deployment'));
    expect(volumesOf(spec)).toContainEqual({
      name: 'vault-token',
      projected: {
        sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3600, audience: 'vault' } }],
      },
    });
  });

  it('the migration Job runs the agent as an init container only, as its own hook ServiceAccount', () => {
    const manifests = manifestsOf('production');
    const job = only<Workload>(manifests, 'Job', 'migration');
    expect(podAnnotations(job)).toMatchObject({
      [INJECT]: 'true',
      'vault.hashicorp.com/agent-pre-populate-only': 'true',
      'vault.hashicorp.com/agent-inject-secret-database_url': 'database/creds/customer-intelligence-owner',
    });
    // Only the database URL: the migration needs no TLS material or API keys.
    expect(Object.keys(podAnnotations(job)).filter((k) => k.includes('agent-inject-secret-'))).toEqual([
      'vault.hashicorp.com/agent-inject-secret-database_url',
    ]);
    expect(job.spec.template.spec.containers[0]!.env).toContainEqual({
      name: 'DATABASE_URL_FILE',
      value: '/vault/secrets/database_url',
    });
    // Created before the Job (lower weight) because the server's ServiceAccount does not exist on install.
    const account = manifests.find(
      (m) => m.kind === 'ServiceAccount' && m.metadata.name === job.spec.template.spec.serviceAccountName,
    )!;
    expect(account.metadata.name).toBe('ci-customer-intelligence-migrate');
    expect(account.metadata.annotations).toMatchObject({
      'helm.sh/hook': 'pre-install,pre-upgrade',
      'helm.sh/hook-weight': '-5',
    });
    expect(Number(account.metadata.annotations!['helm.sh/hook-weight'])).toBeLessThan(
      Number(job.metadata.annotations!['helm.sh/hook-weight']),
    );
    expect(account.automountServiceAccountToken).toBe(false);
  });

  it.each(CI_CASES)(
    '%s: every file the server is told to read is mounted or rendered by the Vault Agent',
    (ciCase) => {
      const manifests = manifestsOf(ciCase);
      const config = serverConfig(manifests);
      const files = Object.entries(config).filter(
        ([name]) => name.endsWith('_FILE') || name === 'VAULT_SECRETS_DIR',
      );
      for (const [name, file] of files) {
        expect(
          fileSource(manifests, name === 'VAULT_SECRETS_DIR' ? `${file}/x` : file),
          `${name}=${file}`,
        ).toBeDefined();
      }
      // And the injector renders nothing the server does not read.
      const rendered = Object.keys(podAnnotations(only(manifests, 'Deployment')))
        .filter((k) => k.startsWith('vault.hashicorp.com/agent-inject-secret-'))
        .map((k) => `${VAULT_SECRETS}/${k.replace('vault.hashicorp.com/agent-inject-secret-', '')}`);
      for (const file of rendered) expect(Object.values(config), file).toContain(file);
    },
  );

  it('direct: the Vault client settings, and the KV mirror on a memory-backed emptyDir', () => {
    const manifests = manifestsOf('vault-direct');
    expect(serverConfig(manifests)).toMatchObject({
      VAULT_ADDR: 'https://vault.vault.svc:8200',
      VAULT_AUTH: 'kubernetes',
      VAULT_ROLE: 'customer-intelligence',
      VAULT_K8S_MOUNT: 'kubernetes',
      VAULT_KV_MOUNT: 'secret',
      VAULT_KV_PATH: 'ml/customer-intelligence',
      VAULT_SECRETS_DIR: VAULT_SECRETS,
      TLS_CERT_FILE: `${VAULT_SECRETS}/tls_cert`,
      TLS_KEY_FILE: `${VAULT_SECRETS}/tls_key`,
      API_KEYS_FILE: `${VAULT_SECRETS}/api_keys`,
      JWT_HS256_SECRET_FILE: `${VAULT_SECRETS}/jwt_hs256_secret`,
    });
    const spec = podSpecOf(only(manifests, 'Deployment'));
    expect(volumesOf(spec)).toContainEqual({
      name: 'vault-secrets',
      emptyDir: { medium: 'Memory', sizeLimit: '1Mi' },
    });
    const container = serverContainer(manifests);
    expect(mountsOf(container)).toContainEqual({ name: 'vault-secrets', mountPath: VAULT_SECRETS });
    expect(container.env).toContainEqual({
      name: 'NODE_EXTRA_CA_CERTS',
      value: '/etc/customer-intelligence/vault-ca/ca.crt',
    });
  });

  it.each([
    [{ 'secrets.vault.role': '' }, 'secrets.provider=injector needs secrets.vault.role'],
    [
      { 'secrets.provider': 'direct', 'secrets.vault.address': '' },
      'secrets.provider=direct needs secrets.vault.address',
    ],
    [
      { 'secrets.vault.kv.path': '' },
      'secrets.vault.kv.path is required: the KV keys api_keys come from Vault',
    ],
    [{ 'database.url': '' }, 'secrets.vault.database.role needs database.url'],
    [{ 'database.readUrlKey': 'replica' }, 'the replica is database.readUrl'],
    [
      { 'secrets.provider': 'direct' },
      'the migration hook cannot log in to Vault (migrate-cli has no Vault client), so it needs database.existingSecret',
    ],
    [
      {
        'auth.apiKeys.existingSecret': 'keys',
        'secrets.vault.database.role': '',
        'database.existingSecret': 'db',
        'database.url': '',
        'database.readUrl': '',
      },
      'secrets.provider=injector, but nothing comes from Vault',
    ],
  ])('refuses %j', async (set, message) => {
    await expect(production(set)).rejects.toThrow(message);
  });
});

describe('secret values', () => {
  // Every value that names a secret, set to a marker; a secret's *contents* are never a value of this chart.
  const MARKERS = {
    'database.existingSecret': 'marker-db-secret',
    'database.urlKey': 'marker-db-url-key',
    'database.readUrlKey': 'marker-db-read-key',
    'grpc.tls.mode': 'mtls',
    'grpc.tls.existingSecret': 'marker-tls-secret',
    'grpc.tls.clientCa.existingSecret': 'marker-client-ca-secret',
    'grpc.tls.clientCa.key': 'marker-client-ca-key',
    'auth.mode': 'required',
    'auth.apiKeys.enabled': 'true',
    'auth.apiKeys.existingSecret': 'marker-api-keys-secret',
    'auth.apiKeys.key': 'marker-api-keys-key',
    'auth.jwt.keySource': 'hs256Secret',
    'auth.jwt.hs256Secret.existingSecret': 'marker-jwt-secret',
    'auth.jwt.hs256Secret.key': 'marker-jwt-key',
    'auth.jwt.issuer': 'https://issuer.example.com/',
    'auth.jwt.audience': 'ci',
    'tests.tls.existingSecret': 'marker-test-secret',
    'cronJobs.enabled': 'true',
    'cronJobs.database.existingSecret': 'marker-batch-db-secret',
    'cronJobs.database.urlKey': 'marker-batch-db-key',
    'cronJobs.scoring.credential.existingSecret': 'marker-batch-credential-secret',
    'cronJobs.scoring.credential.key': 'marker-batch-credential-key',
    'cronJobs.scoring.tls.existingSecret': 'marker-batch-tls-secret',
  };

  it('only ever appear as Secret references, never in a ConfigMap or in plain env values', async () => {
    const manifests = await render({ set: MARKERS });
    const markers = Object.values(MARKERS).filter((value) => value.startsWith('marker-'));
    // Where a marker may appear: secretKeyRef names and keys, Secret volume names and item keys.
    const references: string[] = [];
    const owners = manifests.filter((m) => ['Deployment', 'Job', 'CronJob', 'Pod'].includes(m.kind));
    expect(owners.filter((m) => m.kind === 'CronJob')).toHaveLength(4);
    for (const owner of owners) {
      const spec = podSpecOf(owner);
      for (const container of spec.containers) {
        for (const env of container.env ?? []) {
          const ref = env.valueFrom?.secretKeyRef;
          if (ref) references.push(ref.name, ref.key);
        }
      }
      for (const volume of volumesOf(spec)) {
        if (!volume.secret) continue;
        references.push(volume.secret.secretName, ...(volume.secret.items ?? []).map((item) => item.key));
      }
    }
    expect([...new Set(references.filter((r) => r.startsWith('marker-')))].sort()).toEqual(
      [...markers].sort(),
    );
    for (const configMap of manifests.filter((m) => m.kind === 'ConfigMap')) {
      expect(JSON.stringify(configMap)).not.toMatch(/marker-/);
    }
    // Nothing else carries them (env values, labels, annotations, args): every occurrence in the rendered
    // text is one of the references above.
    const text = await renderText({ set: MARKERS });
    for (const marker of markers) {
      expect(text.split(marker).length - 1, marker).toBe(references.filter((r) => r === marker).length);
    }
    expect(text).not.toMatch(/^kind: Secret$/m);
  });
});

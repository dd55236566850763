import { describe, expect, it } from 'vitest';
import { CI_CASES, renderCiCasesOnce } from '../helpers/helm.js';
import {
  only,
  podSpecOf,
  serverContainer,
  type Labels,
  type Manifest,
  type Workload,
} from '../helpers/manifests.js';
import { mountsOf, production, serverConfig, volumesOf } from '../helpers/server-secrets.js';

// Where the server's secrets come from (Kubernetes Secrets, the Vault Agent injector, or the server's own
// Vault client), on the rendered objects.
const manifestsOf = renderCiCasesOnce();

const INJECT = 'vault.hashicorp.com/agent-inject';
const VAULT_SECRETS = '/vault/secrets';

const podAnnotations = (owner: Manifest): Labels =>
  (owner as Workload).spec.template.metadata.annotations ?? {};

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
        'cronJobs.training.credential.existingSecret': 'train-key',
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
      // The server's own role; each job logs in with its own (security-per-job-identities.test.ts).
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
      // Its own Vault role: only it may read the schema owner's credentials.
      'vault.hashicorp.com/role': 'customer-intelligence-migrate',
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
    // Its own (never the server's), created before the Job (lower weight): on install nothing else exists yet.
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
    // The server refuses plain http to Vault outside loopback (the token and credentials would travel in clear).
    [{ 'secrets.vault.address': 'http://vault.vault.svc:8200' }, "'/secrets/vault/address'"],
  ])('refuses %j', async (set, message) => {
    await expect(production(set)).rejects.toThrow(message);
  });

  it('takes an https Vault, or plain http to a loopback host (a Vault Agent proxy in the pod)', async () => {
    for (const address of [
      'https://vault.vault.svc:8200',
      'http://127.0.0.1:8200',
      'http://localhost:8100',
    ]) {
      const config = serverConfig(
        await production({
          'secrets.provider': 'direct',
          'secrets.vault.address': address,
          'migration.enabled': 'false',
          'cronJobs.enabled': 'false',
        }),
      );
      expect(config.VAULT_ADDR).toBe(address);
    }
  });
});

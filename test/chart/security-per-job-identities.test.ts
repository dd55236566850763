import { describe, expect, it } from 'vitest';
import { CI_CASES, helmFailure, render, renderCiCasesOnce, templateArgs } from '../helpers/helm.js';
import { ofKind, podSpecOf, podTemplateOf, type Manifest } from '../helpers/manifests.js';

// One ServiceAccount and one Vault role per workload (server, score, train, retention, migration): a Vault role
// bound to one ServiceAccount admits that workload only, so a compromised server pod can issue neither a job's
// credentials nor the schema owner's (which drop the audit table's partitions).
const manifestsOf = renderCiCasesOnce();

const ROLE = 'vault.hashicorp.com/role';
const DATABASE_SECRET = 'vault.hashicorp.com/agent-inject-secret-database_url';

/** Which workload a pod-owning object belongs to: both scoring CronJobs are the one "score" workload. */
const WORKLOAD_OF: Readonly<Record<string, string>> = {
  server: 'server',
  'score-churn': 'score',
  'score-clv': 'score',
  train: 'train',
  retention: 'retention',
  migration: 'migration',
};

/** What each workload's pods use: their ServiceAccounts, Vault roles and database roles (sets over its objects). */
interface Identity {
  readonly serviceAccounts: Set<string | undefined>;
  readonly vaultRoles: Set<string | undefined>;
  readonly databaseSecrets: Set<string | undefined>;
}

/** The identities of the workloads in a render (the `helm test` pods are not one: see the last test). */
function identitiesOf(manifests: readonly Manifest[]): Map<string, Identity> {
  const identities = new Map<string, Identity>();
  for (const owner of manifests.filter((m) => ['Deployment', 'CronJob', 'Job'].includes(m.kind))) {
    const component = owner.metadata.labels?.['app.kubernetes.io/component'] ?? '';
    const workload = WORKLOAD_OF[component];
    if (workload === undefined)
      throw new Error(`${owner.kind} ${owner.metadata.name}: unknown component ${component}`);
    const identity = identities.get(workload) ?? {
      serviceAccounts: new Set(),
      vaultRoles: new Set(),
      databaseSecrets: new Set(),
    };
    const annotations = podTemplateOf(owner).metadata.annotations ?? {};
    identity.serviceAccounts.add(podSpecOf(owner).serviceAccountName);
    identity.vaultRoles.add(annotations[ROLE]);
    identity.databaseSecrets.add(annotations[DATABASE_SECRET]);
    identities.set(workload, identity);
  }
  return identities;
}

/** The one value of a set. @throws when the workload's objects disagree. */
function single<T>(values: Set<T>, what: string): T {
  if (values.size !== 1) throw new Error(`${what}: expected one value, found ${JSON.stringify([...values])}`);
  return [...values][0]!;
}

const serviceAccountsOf = (manifests: readonly Manifest[]) =>
  new Map(
    ofKind(manifests, 'ServiceAccount').map((m) => [
      m.metadata.name,
      m as Manifest & Record<string, unknown>,
    ]),
  );

/** A production render with more values; helm's error when it fails. */
const productionFailure = (set: Record<string, string>) =>
  helmFailure(templateArgs({ ciCase: 'production', set }));

describe('one ServiceAccount and one Vault role per workload', () => {
  it('production (the injector, every job on): each workload runs as its own rendered ServiceAccount with its own Vault roles', () => {
    const manifests = manifestsOf('production');
    const identities = identitiesOf(manifests);
    expect([...identities.keys()].sort()).toEqual(['migration', 'retention', 'score', 'server', 'train']);
    const accounts = serviceAccountsOf(manifests);
    const seen = { serviceAccount: new Map<string, string>(), vaultRole: new Map<string, string>() };
    const table: Record<string, { serviceAccount: string; vaultRole: string; databaseSecret: string }> = {};
    for (const [workload, identity] of identities) {
      const serviceAccount = single(identity.serviceAccounts, `${workload} ServiceAccount`);
      const vaultRole = single(identity.vaultRoles, `${workload} Vault role`);
      const databaseSecret = single(identity.databaseSecrets, `${workload} database role`);
      expect(serviceAccount, workload).toBeDefined();
      expect(vaultRole, workload).toBeDefined();
      expect(databaseSecret, workload).toBeDefined();
      // It exists in the release and mounts no API token.
      expect(accounts.get(serviceAccount!)?.automountServiceAccountToken, serviceAccount).toBe(false);
      // No other workload shares it.
      expect(
        seen.serviceAccount.get(serviceAccount!),
        `${workload} shares ${serviceAccount}`,
      ).toBeUndefined();
      expect(seen.vaultRole.get(vaultRole!), `${workload} shares ${vaultRole}`).toBeUndefined();
      seen.serviceAccount.set(serviceAccount!, workload);
      seen.vaultRole.set(vaultRole!, workload);
      table[workload] = {
        serviceAccount: serviceAccount!,
        vaultRole: vaultRole!,
        databaseSecret: databaseSecret!,
      };
    }
    expect(table).toEqual({
      server: {
        serviceAccount: 'ci-customer-intelligence',
        vaultRole: 'customer-intelligence',
        databaseSecret: 'database/creds/customer-intelligence-server',
      },
      score: {
        serviceAccount: 'ci-customer-intelligence-score',
        vaultRole: 'customer-intelligence-score',
        databaseSecret: 'database/creds/customer-intelligence-batch',
      },
      train: {
        serviceAccount: 'ci-customer-intelligence-train',
        vaultRole: 'customer-intelligence-train',
        databaseSecret: 'database/creds/customer-intelligence-train',
      },
      // Retention's own roles own the partitions: neither the server's nor the migration's Vault role.
      retention: {
        serviceAccount: 'ci-customer-intelligence-retention',
        vaultRole: 'customer-intelligence-retention',
        databaseSecret: 'database/creds/customer-intelligence-retention',
      },
      migration: {
        serviceAccount: 'ci-customer-intelligence-migrate',
        vaultRole: 'customer-intelligence-migrate',
        databaseSecret: 'database/creds/customer-intelligence-owner',
      },
    });
    // Only the migration hook's pods get the schema owner's credentials.
    const owners = manifests.filter((m) =>
      JSON.stringify(m).includes('database/creds/customer-intelligence-owner'),
    );
    expect(owners.map((m) => m.metadata.labels?.['app.kubernetes.io/component'])).toEqual(['migration']);
  });

  it.each(CI_CASES)(
    'ci/%s-values.yaml: no job runs as the server ServiceAccount or logs in with its Vault role',
    (ciCase) => {
      const identities = identitiesOf(manifestsOf(ciCase));
      const server = identities.get('server');
      if (server === undefined) throw new Error('no server Deployment');
      const serverAccount = single(server.serviceAccounts, 'server ServiceAccount');
      const serverRole = single(server.vaultRoles, 'server Vault role');
      const accounts = serviceAccountsOf(manifestsOf(ciCase));
      for (const [workload, identity] of identities) {
        if (workload === 'server') continue;
        const account = single(identity.serviceAccounts, `${workload} ServiceAccount`);
        expect(account, workload).not.toBe(serverAccount);
        // Created ones exist; with serviceAccount.create false the job names a pre-existing one.
        if (accounts.size > 0) expect(accounts.has(account!), `${workload} ${account}`).toBe(true);
        if (serverRole !== undefined) expect(identity.vaultRoles.has(serverRole), workload).toBe(false);
      }
    },
  );

  it('the created job ServiceAccounts are only those of rendered jobs, and carry their annotations', async () => {
    const manifests = await render({
      set: {
        'cronJobs.enabled': 'true',
        'cronJobs.training.enabled': 'false',
        'serviceAccount.jobs.score.annotations.example\\.com/iam': 'scoring',
      },
    });
    const accounts = serviceAccountsOf(manifests);
    expect([...accounts.keys()].sort()).toEqual([
      'ci-customer-intelligence',
      'ci-customer-intelligence-migrate',
      'ci-customer-intelligence-retention',
      'ci-customer-intelligence-score',
    ]);
    expect(accounts.get('ci-customer-intelligence-score')?.metadata.annotations).toEqual({
      'example.com/iam': 'scoring',
    });
    // The migration's is a hook, created before its Job (a pre-install hook runs before the other objects).
    expect(accounts.get('ci-customer-intelligence-migrate')?.metadata.annotations).toMatchObject({
      'helm.sh/hook': 'pre-install,pre-upgrade',
      'helm.sh/hook-weight': '-5',
    });
  });

  it('names pre-existing ServiceAccounts per job when the chart creates none', async () => {
    const manifests = await render({
      set: {
        'serviceAccount.create': 'false',
        'serviceAccount.name': 'ci-server',
        'serviceAccount.jobs.score.name': 'ci-score',
        'serviceAccount.jobs.migration.name': 'ci-migrate',
        'cronJobs.enabled': 'true',
        'cronJobs.training.enabled': 'false',
        'cronJobs.retention.enabled': 'false',
      },
    });
    expect(ofKind(manifests, 'ServiceAccount')).toEqual([]);
    const accounts = Object.fromEntries(
      [...identitiesOf(manifests)].map(([workload, identity]) => [workload, [...identity.serviceAccounts]]),
    );
    expect(accounts).toEqual({ server: ['ci-server'], score: ['ci-score'], migration: ['ci-migrate'] });
  });

  it('keeps the older database role values of the jobs', async () => {
    const manifests = await render({
      ciCase: 'production',
      set: {
        'secrets.vault.jobs.retention.databaseRole': '',
        'cronJobs.retention.vaultRole': 'old-retention',
        'secrets.vault.jobs.migration.databaseRole': '',
        'secrets.vault.database.migrationRole': 'old-owner',
        'secrets.vault.jobs.train.databaseRole': '',
      },
    });
    const identities = identitiesOf(manifests);
    expect([...identities.get('retention')!.databaseSecrets]).toEqual(['database/creds/old-retention']);
    expect([...identities.get('migration')!.databaseSecrets]).toEqual(['database/creds/old-owner']);
    expect([...identities.get('train')!.databaseSecrets]).toEqual([
      'database/creds/customer-intelligence-batch',
    ]);
  });
});

describe('refused identities', () => {
  it.each([
    [
      "a job's Vault role missing",
      { 'secrets.vault.jobs.score.role': '' },
      'secrets.vault.jobs.score.role is required: the score pods',
    ],
    [
      "the migration's Vault role missing",
      { 'secrets.vault.jobs.migration.role': '' },
      'secrets.vault.jobs.migration.role is required',
    ],
    [
      "a job logging in with the server's Vault role",
      { 'secrets.vault.jobs.retention.role': 'customer-intelligence' },
      'secrets.vault.role and secrets.vault.jobs.retention.role are both "customer-intelligence"',
    ],
    [
      'two jobs sharing a Vault role',
      { 'secrets.vault.jobs.train.role': 'customer-intelligence-score' },
      'secrets.vault.jobs.score.role and secrets.vault.jobs.train.role are both',
    ],
    [
      // Before, it fell back to the schema owner's role, which the server's Vault role could then read.
      "retention's database role missing (never the schema owner's or the server's by default)",
      { 'secrets.vault.jobs.retention.databaseRole': '' },
      'secrets.vault.jobs.retention.databaseRole is required',
    ],
    [
      "the migration's database role missing (never the server's by default)",
      { 'secrets.vault.jobs.migration.databaseRole': '' },
      'secrets.vault.jobs.migration.databaseRole is required',
    ],
    [
      "a scoring job's database role missing (never the server's by default)",
      { 'cronJobs.database.vaultRole': '' },
      'secrets.vault.jobs.score.databaseRole is required',
    ],
    [
      "a job named to run as the server's ServiceAccount",
      { 'serviceAccount.jobs.train.name': 'ci-customer-intelligence' },
      'the server and train pods would both run as the ServiceAccount "ci-customer-intelligence"',
    ],
    [
      "jobs logging in to Vault as the namespace's default ServiceAccount",
      { 'serviceAccount.create': 'false', 'serviceAccount.name': 'ci-server' },
      'would both run as the ServiceAccount "default"',
    ],
  ])('fails with %s, naming the value', async (_name, set, message) => {
    expect(await productionFailure(set)).toContain(message);
  });

  it('accepts the namespace default ServiceAccount for workloads that do not log in to Vault', async () => {
    const manifests = await render({ set: { 'serviceAccount.create': 'false', 'cronJobs.enabled': 'true' } });
    for (const [workload, identity] of identitiesOf(manifests)) {
      expect([...identity.serviceAccounts], workload).toEqual(['default']);
      expect([...identity.vaultRoles], workload).toEqual([undefined]);
    }
  });
});

describe('the helm test pods', () => {
  it('log in to nothing: no Vault Agent and no service-account token', () => {
    const pods = ofKind(manifestsOf('production'), 'Pod');
    expect(pods.length).toBeGreaterThan(0);
    for (const pod of pods) {
      expect(pod.metadata.annotations?.[ROLE], pod.metadata.name).toBeUndefined();
      expect(podSpecOf(pod).automountServiceAccountToken, pod.metadata.name).toBe(false);
    }
  });
});

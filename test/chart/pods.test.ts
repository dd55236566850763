import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CI_CASES, REPO_ROOT, ciValues, render, renderCiCasesOnce, renderText } from '../helpers/helm.js';
import {
  named,
  only,
  podSpecOf,
  serverContainer,
  type Container,
  type Manifest,
  type PodSpec,
  type Workload,
} from '../helpers/manifests.js';

// What runs in the pods the chart renders (server Deployment, migration hook Job, batch CronJobs, helm test
// Pod): hardening, probes, shutdown timing, how they get the database URL (cronjobs-*.test.ts: the CronJobs).
const manifestsOf = renderCiCasesOnce();

/** Every rendered object that runs pods: the Deployment, the migration Job, the CronJobs, the test Pod. */
function podOwners(manifests: readonly Manifest[]): Manifest[] {
  return manifests.filter((m) => ['Deployment', 'Job', 'CronJob', 'Pod'].includes(m.kind));
}

function allContainers(spec: PodSpec): Container[] {
  return [...(spec.initContainers ?? []), ...spec.containers];
}

describe('pod security', () => {
  it.each(CI_CASES)('%s: every pod spec is hardened (Deployment, hook Job, CronJobs, test Pod)', (ciCase) => {
    const owners = podOwners(manifestsOf(ciCase));
    expect(owners.length).toBeGreaterThan(0);
    for (const owner of owners) {
      const spec = podSpecOf(owner);
      expect(spec.securityContext, owner.kind).toMatchObject({
        runAsNonRoot: true,
        runAsUser: expect.any(Number),
        runAsGroup: expect.any(Number),
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(spec.securityContext!.runAsUser).toBeGreaterThan(0);
      expect(spec.automountServiceAccountToken, owner.kind).toBe(false);
      expect(spec.hostNetwork ?? false).toBe(false);
      for (const container of allContainers(spec)) {
        expect(container.securityContext, `${owner.kind}/${container.name}`).toMatchObject({
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
        });
        expect(container.securityContext!.privileged ?? false).toBe(false);
        expect(container.securityContext!.capabilities!.add ?? []).toEqual([]);
      }
    }
  });

  it('gives the server and the migration a writable /tmp on a read-only root', () => {
    const manifests = manifestsOf('minimal');
    for (const owner of [only(manifests, 'Deployment'), only(manifests, 'Job')]) {
      const spec = podSpecOf(owner);
      const tmp = spec.volumes?.find((v) => v.emptyDir !== undefined);
      expect(tmp, owner.kind).toBeDefined();
      expect(spec.containers[0]!.volumeMounts).toContainEqual({ name: tmp!.name, mountPath: '/tmp' });
    }
  });

  it('the ServiceAccounts mount no token and the server uses its own', () => {
    const manifests = manifestsOf('minimal');
    const accounts = manifests.filter((m) => m.kind === 'ServiceAccount');
    expect(accounts.map((a) => a.metadata.name).sort()).toEqual([
      'ci-customer-intelligence',
      'ci-customer-intelligence-migrate',
    ]);
    for (const account of accounts)
      expect(account.automountServiceAccountToken, account.metadata.name).toBe(false);
    expect(podSpecOf(only(manifests, 'Deployment')).serviceAccountName).toBe('ci-customer-intelligence');
  });
});

describe('probes and shutdown', () => {
  it.each(CI_CASES)(
    '%s: startup, liveness and readiness are native gRPC probes on a plaintext port serving health',
    (ciCase) => {
      const manifests = manifestsOf(ciCase);
      const container = serverContainer(manifests);
      const data = only(manifests, 'ConfigMap', 'server').data!;
      // The kubelet's gRPC probe cannot speak TLS: with tls/mtls the probes use HEALTH_PORT, plaintext.
      const probePort = data.GRPC_TLS === 'plaintext' ? data.GRPC_PORT : data.HEALTH_PORT;
      expect(probePort).toMatch(/^\d+$/);
      const portName = data.GRPC_TLS === 'plaintext' ? 'grpc' : 'health';
      expect(container.ports!.find((p) => p.name === portName)?.containerPort).toBe(Number(probePort));
      for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) {
        expect(probe?.grpc).toEqual({ port: Number(probePort), service: '' });
        expect(probe?.httpGet ?? probe?.exec ?? probe?.tcpSocket).toBeUndefined();
      }
      // The startup budget covers the server's own wait for the database before it gives up.
      const startup = container.startupProbe!;
      const configMap = only(manifestsOf(ciCase), 'ConfigMap', 'server');
      const waitSeconds = Number(configMap.data!.STARTUP_DATABASE_TIMEOUT_MS) / 1000;
      expect(startup.periodSeconds! * startup.failureThreshold!).toBeGreaterThan(waitSeconds);
    },
  );

  it.each([
    ...CI_CASES.map((ciCase) => [ciCase, {}] as const),
    ['minimal', { 'config.shutdownGraceMs': '61500', 'lifecycle.preStopSleepSeconds': '15' }] as const,
  ])('%s %j: terminationGracePeriodSeconds covers the preStop sleep plus the drain', async (ciCase, set) => {
    const manifests = await render({ ciCase, set });
    const spec = podSpecOf(only(manifests, 'Deployment'));
    const preStop = serverContainer(manifests).lifecycle!.preStop!;
    expect(preStop.sleep!.seconds).toBeGreaterThan(0);
    expect(preStop.exec).toBeUndefined(); // distroless: no shell, no /bin/sleep
    const drainSeconds = Number(only(manifests, 'ConfigMap', 'server').data!.SHUTDOWN_GRACE_MS) / 1000;
    expect(spec.terminationGracePeriodSeconds!).toBeGreaterThan(preStop.sleep!.seconds + drainSeconds);
  });

  it('rolls out without taking a serving pod away first', () => {
    // extension-points puts the audit spill on a claim, whose single pod is recreated instead
    // (extension-points-audit-spill.test.ts).
    for (const ciCase of CI_CASES.filter((name) => name !== 'extension-points')) {
      const deployment = only<Workload>(manifestsOf(ciCase), 'Deployment');
      expect(deployment.spec.strategy).toMatchObject({
        type: 'RollingUpdate',
        rollingUpdate: { maxUnavailable: 0 },
      });
    }
  });
});

describe('database secret wiring', () => {
  // The one place a credential may appear in a rendered URL: a Vault Agent template's placeholders.
  const VAULT_CREDENTIALS = '{{ .Data.username | urlquery }}:{{ .Data.password | urlquery }}@';

  it.each(CI_CASES)(
    '%s: no rendered connection string carries credentials, and no Secret is created',
    async (ciCase) => {
      const text = await renderText({ ciCase });
      expect(text.replaceAll(VAULT_CREDENTIALS, '')).not.toMatch(/postgres(ql)?:\/\/[^/\s'"]*@/);
      expect(manifestsOf(ciCase).map((m) => m.kind)).not.toContain('Secret');
    },
  );

  it.each(['minimal', 'everything-off'])(
    '%s: DATABASE_URL comes from the existing Secret for the server and the migration hook',
    async (ciCase) => {
      const manifests = manifestsOf(ciCase);
      const values = parse(await readFile(ciValues(ciCase), 'utf8')) as {
        database: { existingSecret: string; urlKey?: string };
      };
      for (const owner of manifests.filter((m) => ['Deployment', 'Job'].includes(m.kind))) {
        const env = podSpecOf(owner).containers[0]!.env!;
        expect(env.find((e) => e.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef, owner.kind).toEqual({
          name: values.database.existingSecret,
          key: values.database.urlKey ?? 'DATABASE_URL',
        });
      }
    },
  );

  it('with Vault database credentials: the injector renders DATABASE_URL_FILE, direct puts a bare URL in the ConfigMap', () => {
    const production = manifestsOf('production');
    expect(serverContainer(production).env ?? []).not.toContainEqual(
      expect.objectContaining({ name: 'DATABASE_URL' }),
    );
    expect(only(production, 'ConfigMap', 'server').data).toMatchObject({
      DATABASE_URL_FILE: '/vault/secrets/database_url',
      DATABASE_READ_URL: 'postgres://postgres-replica.db.svc:5432/customer_intelligence?sslmode=verify-full',
    });
    const annotations = only<Workload>(production, 'Deployment').spec.template.metadata.annotations!;
    expect(annotations['vault.hashicorp.com/agent-inject-secret-database_url']).toBe(
      'database/creds/customer-intelligence-server',
    );
    expect(annotations['vault.hashicorp.com/agent-inject-template-database_url']).toBe(
      '{{- with secret "database/creds/customer-intelligence-server" -}}' +
        'postgres://{{ .Data.username | urlquery }}:{{ .Data.password | urlquery }}@' +
        'postgres-primary.db.svc:5432/customer_intelligence?sslmode=verify-full{{- end -}}',
    );
    const direct = manifestsOf('vault-direct');
    expect(only(direct, 'ConfigMap', 'server').data).toMatchObject({
      DATABASE_URL: 'postgres://postgres.db.svc:5432/customer_intelligence?sslmode=require',
      VAULT_DB_ROLE: 'customer-intelligence-server',
    });
    // migrate-cli has no Vault client: in direct mode the hook reads a schema owner's URL from the Secret.
    expect(podSpecOf(only(direct, 'Job')).containers[0]!.env).toContainEqual({
      name: 'DATABASE_URL',
      valueFrom: { secretKeyRef: { name: 'customer-intelligence-migrations', key: 'DATABASE_URL' } },
    });
  });

  it('adds DATABASE_READ_URL only when a key is given', async () => {
    const hasReadUrl = (manifests: readonly Manifest[]) =>
      serverContainer(manifests).env!.some((e) => e.name === 'DATABASE_READ_URL');
    expect(hasReadUrl(manifestsOf('minimal'))).toBe(false);
    const withReplica = await render({ set: { 'database.readUrlKey': 'replica-url' } });
    expect(serverContainer(withReplica).env!.find((e) => e.name === 'DATABASE_READ_URL')!.valueFrom).toEqual({
      secretKeyRef: { name: 'customer-intelligence-db', key: 'replica-url' },
    });
  });
});

describe('migration hook', () => {
  it('is a pre-install,pre-upgrade Job that needs nothing the chart creates', () => {
    const manifests = manifestsOf('minimal');
    const job = only<Workload>(manifests, 'Job', 'migration');
    expect(job.metadata.annotations).toMatchObject({
      'helm.sh/hook': 'pre-install,pre-upgrade',
      'helm.sh/hook-delete-policy': expect.stringContaining('before-hook-creation'),
    });
    expect(job.spec.backoffLimit).toEqual(expect.any(Number));
    expect(job.spec.ttlSecondsAfterFinished).toEqual(expect.any(Number));
    const spec = job.spec.template.spec;
    const container = spec.containers[0]!;
    expect(container.args).toEqual(['dist/server/src/db/migrate-cli.js']);
    expect(container.image).toBe(serverContainer(manifests).image);
    // The same hardening as the server.
    const serverPod = podSpecOf(only(manifests, 'Deployment'));
    expect(spec.securityContext).toEqual(serverPod.securityContext);
    expect(container.securityContext).toEqual(serverContainer(manifests).securityContext);
    // A pre-install hook runs before the chart's ConfigMap and the server's ServiceAccount exist: it runs as
    // its own, a hook created just before it.
    expect(container.envFrom).toBeUndefined();
    expect(spec.serviceAccountName).toBe('ci-customer-intelligence-migrate');
    expect(JSON.stringify(job)).not.toContain('configMapRef');
  });

  it('runs roles.sql after the migrations with migration.grantRoles', async () => {
    const manifests = await render({ set: { 'migration.grantRoles': 'true' } });
    expect(podSpecOf(only(manifests, 'Job')).containers[0]!.args).toEqual([
      'dist/server/src/db/migrate-cli.js',
      '--grant-roles',
    ]);
  });

  it("uses pre-existing ServiceAccounts when the chart does not create them, never the server's for the hook", async () => {
    const manifests = await render({
      set: { 'serviceAccount.create': 'false', 'serviceAccount.name': 'scoring' },
    });
    expect(podSpecOf(only(manifests, 'Job')).serviceAccountName).toBe('default');
    expect(podSpecOf(only(manifests, 'Deployment')).serviceAccountName).toBe('scoring');
    const named = await render({
      set: {
        'serviceAccount.create': 'false',
        'serviceAccount.name': 'scoring',
        'serviceAccount.jobs.migration.name': 'migrating',
      },
    });
    expect(podSpecOf(only(named, 'Job')).serviceAccountName).toBe('migrating');
  });
});

describe('helm test pod', () => {
  it('probes the Service with grpc-health-probe at the version scripts/versions.sh pins', async () => {
    const pod = named(manifestsOf('minimal'), 'Pod', '-test-health');
    expect(pod.metadata.annotations).toMatchObject({ 'helm.sh/hook': 'test' });
    const container = podSpecOf(pod).containers[0]!;
    expect(container.args).toContain('-addr=ci-customer-intelligence.ml.svc:50051');
    expect(container.args).toContain('-service=');
    const tools = await readFile(path.join(REPO_ROOT, 'scripts/versions.sh'), 'utf8');
    const pinned = /grpc-health-probe@(v[\d.]+)/.exec(tools)![1];
    expect(container.image).toBe(`ghcr.io/grpc-ecosystem/grpc-health-probe:${pinned}`);
  });
});

describe('app.kubernetes.io/version', () => {
  const versionsOf = (manifests: readonly Manifest[]) =>
    new Set(manifests.map((m) => m.metadata.labels?.['app.kubernetes.io/version']));

  it('is the image tag actually deployed, on every object and the server pods', async () => {
    const manifests = await render({ set: { 'image.tag': '1.4.2-rc.1' } });
    expect(versionsOf(manifests)).toEqual(new Set(['1.4.2-rc.1']));
    const pod = only<Workload>(manifests, 'Deployment', 'server');
    expect(pod.spec.template.metadata?.labels?.['app.kubernetes.io/version']).toBe('1.4.2-rc.1');
  });

  it('is the appVersion without a tag, and a valid label value for a long tag', async () => {
    const chart = parse(
      await readFile(path.join(REPO_ROOT, 'helm/customer-intelligence/Chart.yaml'), 'utf8'),
    ) as {
      appVersion: string;
    };
    expect(versionsOf(manifestsOf('minimal'))).toEqual(new Set([chart.appVersion]));
    const long = `${'a'.repeat(62)}.b`;
    const [version] = versionsOf(await render({ set: { 'image.tag': long } }));
    expect(version).toBe('a'.repeat(62));
  });

  it('is the tag (else the appVersion) of a digest-pinned image, never the digest, which is no label value', async () => {
    const digest = `sha256:${'0'.repeat(64)}`;
    const pinned = await render({ set: { 'image.digest': digest } });
    expect(serverContainer(pinned).image).toBe(`customer-intelligence@${digest}`);
    expect(versionsOf(pinned)).toEqual(versionsOf(manifestsOf('minimal')));
    const tagged = await render({ set: { 'image.digest': digest, 'image.tag': '1.4.2' } });
    expect(versionsOf(tagged)).toEqual(new Set(['1.4.2']));
  });

  it.each(['_1.4.2', '1.4.2-', `v${'1'.repeat(70)}`])(
    'is a valid label value for the tag %j',
    async (tag) => {
      const [version] = versionsOf(await render({ set: { 'image.tag': tag } }));
      // Kubernetes' label value rule: at most 63 characters, alphanumeric at both ends.
      expect(version).toMatch(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/);
      expect(version!.length).toBeLessThanOrEqual(63);
    },
  );
});

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ChannelCredentials } from 'nice-grpc';
import { stringify } from 'yaml';
import { createScoringClient, type ScoringClient } from '../../client/src/scoring-client.js';
import { hashApiKey } from '../../server/src/security/api-key-authenticator.js';
import { apply, clusterHelm, clusterInfo, kubectl, kubectlJson } from './cluster.js';
import { CHART_DIR } from './helm.js';
import { createCa } from './pki.js';
import { createEmptyDatabase, dropDatabase } from './test-postgres.js';

/** Tag of the image `npm run image` builds (package.json's version = the chart's appVersion). */
export const IMAGE_TAG = '0.1.0';
/** A second tag of the same image, which the upgrade tests roll to. */
export const NEXT_IMAGE_TAG = '0.1.0-rollout';

/** Options of {@link installRelease}. */
export interface ReleaseOptions {
  /** Release name; the namespace is `ns-<name>`. */
  readonly name: string;
  /** Postgres of the test run: its superuser URL as the host reaches it. */
  readonly postgresUrl: string;
  /** Values merged over the production-like ones of {@link releaseValues}. */
  readonly values?: Record<string, unknown>;
  /** Chart folder. @default the repository's chart */
  readonly chartDir?: string;
  /**
   * The values of the first `helm install` only, from the release's values (e.g. without what an older chart's
   * schema does not know yet); every upgrade uses the release's values. @default the release's values
   */
  readonly installValues?: (values: Record<string, unknown>) => Record<string, unknown>;
}

/** An installed release and what its callers need. */
export interface Release {
  readonly name: string;
  readonly namespace: string;
  /** `<release>-customer-intelligence`: the Deployment, the Service, the CronJob prefix. */
  readonly fullname: string;
  /** The server pods' label selector. */
  readonly selector: string;
  /** The database as the host reaches it (superuser). */
  readonly databaseUrl: string;
  /** API keys by role. */
  readonly keys: { readonly scorer: string; readonly batch: string; readonly admin: string };
  /** The values file every `helm install/upgrade` of this release uses. */
  readonly valuesFile: string;
  /** Seconds `helm install --wait` took. */
  readonly installSeconds: number;
  /** `address` (e.g. a pod IP:port) with TLS (the server certificate names the Service) and `key`. */
  client(options?: { address?: string; key?: string; deadlineMs?: number }): ScoringClient;
  /** The ClusterIP Service's address (`ip:port`), which kube-proxy forwards to a ready pod. */
  readonly serviceAddress: string;
  /** The CA that signed the server certificate (PEM). */
  readonly caPem: string;
  /** `helm upgrade --wait` with the release's values file, then `extraArgs` (e.g. `--set` overrides). */
  upgrade(extraArgs?: readonly string[], chartDir?: string): Promise<string>;
  /** Uninstalls, deletes the namespace and drops the database (all kept with KEEP_RELEASES=1). */
  destroy(): Promise<void>;
}

/**
 * The production-like values of the cluster tests: two replicas with an HPA, TLS with API keys required, a PDB,
 * the NetworkPolicy (rendered; see the README for what enforces it), the CronJobs with their credentials, the
 * database from a Secret pointing at the host's Postgres, and probes and grace periods short enough for a test.
 */
export function releaseValues(nodeIp: string): Record<string, unknown> {
  return {
    image: { repository: 'customer-intelligence', tag: IMAGE_TAG, pullPolicy: 'IfNotPresent' },
    database: { existingSecret: 'database' },
    grpc: { tls: { mode: 'tls', existingSecret: 'server-tls' } },
    auth: {
      mode: 'required',
      apiKeys: { enabled: true, existingSecret: 'api-keys', reloadIntervalMs: 2000 },
    },
    config: { shutdownGraceMs: 5000, logLevel: 'info' },
    lifecycle: { preStopSleepSeconds: 3 },
    resources: { requests: { cpu: '100m', memory: '192Mi' }, limits: { memory: '768Mi' } },
    // Two replicas at least; scale-down after 20 s instead of 5 minutes, so autoscaling.test.ts sees it return.
    autoscaling: {
      enabled: true,
      minReplicas: 2,
      maxReplicas: 4,
      targetCPUUtilizationPercentage: 70,
      behavior: {
        scaleDown: {
          stabilizationWindowSeconds: 20,
          policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
        },
      },
    },
    podDisruptionBudget: { enabled: true, maxUnavailable: 1 },
    networkPolicy: {
      enabled: true,
      clients: [{ podLabels: { 'app.kubernetes.io/component': 'load' } }],
      postgres: { cidrs: [`${nodeIp}/32`] },
    },
    migration: { grantRoles: true },
    cronJobs: {
      enabled: true,
      scoring: {
        credential: { type: 'apiKey', existingSecret: 'batch-api-key', key: 'api-key' },
        tls: { existingSecret: 'server-tls' },
      },
      // Training registers through the admin API; its TLS Secret defaults to the scoring jobs'.
      training: { credential: { type: 'apiKey', existingSecret: 'admin-api-key', key: 'api-key' } },
    },
    // helm test's Score call presents the scorer key (a Secret of its own, as a user would make one).
    tests: {
      tls: { existingSecret: 'server-tls' },
      score: { credential: { type: 'apiKey', existingSecret: 'scorer-api-key', key: 'api-key' } },
    },
  };
}

function mergeValues(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = merged[key];
    merged[key] =
      value !== null &&
      typeof value === 'object' &&
      !Array.isArray(value) &&
      current !== null &&
      typeof current === 'object' &&
      !Array.isArray(current)
        ? mergeValues(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return merged;
}

const secret = (name: string, namespace: string, data: Record<string, string>, type = 'Opaque') => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace },
  type,
  stringData: data,
});

/**
 * Installs the chart as a user would: a namespace, the Secrets it expects to exist (database URL, server
 * certificate, API key list, the batch jobs', the trainer's and helm test's keys), then `helm install --wait`. Everything secret is made here.
 */
export async function installRelease(options: ReleaseOptions): Promise<Release> {
  const { nodeIp } = clusterInfo();
  const name = options.name;
  const namespace = `ns-${name}`;
  const fullname = `${name}-customer-intelligence`;
  const database = `cluster_${name.replace(/-/g, '_')}_${randomBytes(3).toString('hex')}`;
  const databaseUrl = await createEmptyDatabase(options.postgresUrl, database);
  const podDatabaseUrl = new URL(databaseUrl);
  podDatabaseUrl.hostname = nodeIp;

  const ca = await createCa(`${name}-ca`);
  const serviceNames = [fullname, `${fullname}-headless`].flatMap((service) => [
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
  ]);
  const server = await ca.issue({ commonName: fullname, server: true, dnsNames: serviceNames });
  const keys = {
    scorer: randomBytes(24).toString('base64url'),
    batch: randomBytes(24).toString('base64url'),
    admin: randomBytes(24).toString('base64url'),
  };
  const keyList = Object.entries(keys).map(([role, key]) => ({
    name: `cluster-${role}`,
    sha256: hashApiKey(key),
    roles: [role],
  }));

  await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  await apply(
    secret('database', namespace, { DATABASE_URL: podDatabaseUrl.toString() }),
    secret(
      'server-tls',
      namespace,
      { 'tls.crt': server.certPem, 'tls.key': server.keyPem, 'ca.crt': ca.certPem },
      'kubernetes.io/tls',
    ),
    secret('api-keys', namespace, { 'api-keys.json': JSON.stringify(keyList) }),
    secret('batch-api-key', namespace, { 'api-key': keys.batch }),
    secret('admin-api-key', namespace, { 'api-key': keys.admin }),
    secret('scorer-api-key', namespace, { 'api-key': keys.scorer }),
  );

  const dir = await mkdtemp(path.join(os.tmpdir(), `ci-release-${name}-`));
  const valuesFile = path.join(dir, 'values.yaml');
  const values = mergeValues(releaseValues(nodeIp), options.values ?? {});
  await writeFile(valuesFile, stringify(values));
  const installValuesFile = path.join(dir, 'install-values.yaml');
  await writeFile(installValuesFile, stringify(options.installValues?.(values) ?? values));
  /** `helm install|upgrade` of this release with its values, waiting until it is ready. */
  const helmRelease = (
    verb: 'install' | 'upgrade',
    chartDir: string,
    timeout: string,
    extra: readonly string[] = [],
  ) =>
    clusterHelm([
      verb,
      name,
      chartDir,
      '--namespace',
      namespace,
      '--values',
      verb === 'install' ? installValuesFile : valuesFile,
      '--wait',
      '--timeout',
      timeout,
      ...extra,
    ]);
  const started = performance.now();
  await helmRelease('install', options.chartDir ?? CHART_DIR, '10m');
  const installSeconds = (performance.now() - started) / 1000;

  const service = await kubectlJson<{ spec: { clusterIP: string; ports: Array<{ port: number }> } }>([
    'get',
    'service',
    fullname,
    '-n',
    namespace,
  ]);
  const serviceAddress = `${service.spec.clusterIP}:${String(service.spec.ports[0]!.port)}`;
  return {
    name,
    namespace,
    fullname,
    selector: `app.kubernetes.io/instance=${name},app.kubernetes.io/component=server`,
    serviceAddress,
    caPem: ca.certPem,
    databaseUrl,
    keys,
    valuesFile,
    installSeconds,
    client({ address = serviceAddress, key = keys.scorer, deadlineMs = 5_000 } = {}) {
      return createScoringClient(address, {
        credentials: ChannelCredentials.createSsl(Buffer.from(ca.certPem)),
        auth: { apiKey: key },
        deadlineMs,
        // The certificate names the Service; the client dials its IP (the host cannot use the cluster DNS).
        channelOptions: { 'grpc.ssl_target_name_override': `${fullname}.${namespace}.svc` },
      });
    },
    upgrade(extraArgs = [], chartDir = CHART_DIR) {
      return helmRelease('upgrade', chartDir, '5m', extraArgs);
    },
    async destroy() {
      // KEEP_RELEASES=1 leaves everything in place for a look with kubectl (the database too).
      if (process.env.KEEP_RELEASES === '1') return;
      await clusterHelm(['uninstall', name, '--namespace', namespace, '--wait']).catch(() => undefined);
      await kubectl(['delete', 'namespace', namespace, '--wait=true', '--timeout=120s']).catch(
        () => undefined,
      );
      await dropDatabase(options.postgresUrl, database);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

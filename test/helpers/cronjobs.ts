import { beforeAll } from 'vitest';
import { render } from './helm.js';
import {
  only,
  podSpecOf,
  podTemplateOf,
  type Container,
  type CronJob,
  type Labels,
  type Manifest,
} from './manifests.js';
import { containerEnvironment, type SecretKeyRef } from './pod-environment.js';

// The batch CronJobs (scoring, training, retention) of a render, as the test/chart/cronjobs-*.test.ts files
// read them: the jobs by component, their container and its environment as Kubernetes sets it.

/** The renderings that have CronJobs: the chart's defaults with cronJobs.enabled, and two `ci/` cases. */
export const CASES_WITH_CRONJOBS = ['defaults', 'production', 'vault-direct'] as const;

/** The fieldRef through which a batch pod reads the name of its Job. */
export const JOB_NAME_LABEL = "metadata.labels['batch.kubernetes.io/job-name']";
/** Where the Vault Agent renders secrets in a pod. */
export const VAULT_SECRETS = '/vault/secrets';
/** The annotation that has the Vault Agent injector inject an agent into a pod. */
export const INJECT = 'vault.hashicorp.com/agent-inject';
/** The annotation that runs the agent as an init container only. */
export const PRE_POPULATE_ONLY = 'vault.hashicorp.com/agent-pre-populate-only';

/** The CronJobs of a render. */
export const cronJobsOf = (manifests: readonly Manifest[]) =>
  manifests.filter((m): m is CronJob => m.kind === 'CronJob');
/** An object's `app.kubernetes.io/component` label. */
export const componentOf = (manifest: Manifest) => manifest.metadata.labels?.['app.kubernetes.io/component'];
/** The one CronJob of a component. @throws when there is not exactly one. */
export const cronJob = (manifests: readonly Manifest[], component: string) =>
  only<CronJob>(manifests, 'CronJob', component);
/** The container of a job's pods (each batch pod has one). */
export const containerOf = (job: Manifest): Container => podSpecOf(job).containers[0]!;
/** The `vault.hashicorp.com/` annotations of a job's pods. */
export const vaultAnnotationsOf = (job: Manifest) =>
  Object.keys(podTemplateOf(job).metadata.annotations ?? {}).filter((k) =>
    k.startsWith('vault.hashicorp.com/'),
  );

/** A fake value for a Secret the chart references: a database URL for DATABASE_URL, else a marker. */
export function fakeSecret(ref: SecretKeyRef, variable: string): string {
  return variable === 'DATABASE_URL' ? `postgres://batch:pass@${ref.name}:5432/ci` : `fake-${ref.key}`;
}

/** The scoring container's environment in the pod of shard `index` of the Job `jobName`, as Kubernetes sets it. */
export function shardEnvironment(
  manifests: readonly Manifest[],
  job: CronJob,
  jobName: string,
  index: number,
): Record<string, string> {
  const env = containerEnvironment(manifests, containerOf(job), fakeSecret, (fieldPath) => {
    if (fieldPath !== JOB_NAME_LABEL) throw new Error(`unexpected fieldRef ${fieldPath}`);
    return jobName;
  });
  // Set by the Job controller on every pod of an Indexed Job.
  return { ...env, JOB_COMPLETION_INDEX: String(index) };
}

/** The flags after the script path, as score-cli's parser receives them. */
export const cliArgs = (job: CronJob) => containerOf(job).args!.slice(1);

/** A peer of a NetworkPolicy rule. */
export interface Peer {
  namespaceSelector?: { matchLabels: Labels };
  podSelector?: {
    matchLabels?: Labels;
    matchExpressions?: Array<{ key: string; operator: string; values: string[] }>;
  };
  ipBlock?: { cidr: string };
}

/** The ingress rules of the server's NetworkPolicy. */
export interface ServerPolicySpec {
  ingress: Array<{ ports: Array<{ port: number | string }>; from: Peer[] }>;
}

/**
 * The renderings that have CronJobs ({@link CASES_WITH_CRONJOBS}), for one test file; call it at the file's top
 * level with the file's `renderCiCasesOnce()`. `defaults()` is the chart's defaults with cronJobs.enabled
 * (minimal: plaintext, no auth, a database Secret), rendered in a `beforeAll`; `byName()` has all three.
 */
export function rendersWithCronJobs(manifestsOf: (ciCase: string) => Manifest[]) {
  let defaults: Manifest[] = [];
  beforeAll(async () => {
    defaults = await render({ set: { 'cronJobs.enabled': 'true' } });
  });
  return {
    defaults: () => defaults,
    byName: () => ({
      defaults,
      production: manifestsOf('production'),
      'vault-direct': manifestsOf('vault-direct'),
    }),
  };
}

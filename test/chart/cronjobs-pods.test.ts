import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBatchEnvironment } from '../../batch/src/cli/batch-environment.js';
import {
  CASES_WITH_CRONJOBS,
  PRE_POPULATE_ONLY,
  VAULT_SECRETS,
  componentOf,
  containerOf,
  cronJob,
  cronJobsOf,
  fakeSecret,
  vaultAnnotationsOf,
  rendersWithCronJobs,
} from '../helpers/cronjobs.js';
import { render, renderCiCasesOnce } from '../helpers/helm.js';
import { only, podSpecOf, podTemplateOf, serverContainer, type Manifest } from '../helpers/manifests.js';
import { containerEnvironment } from '../helpers/pod-environment.js';

// The batch CronJobs' pods: the server's image and hardening, resources per job, and the database URL of each
// CLI, read by the batch CLIs' own environment parser.
const manifestsOf = renderCiCasesOnce();

const renders = rendersWithCronJobs(manifestsOf);
const withCronJobs = renders.byName;

describe('pods', () => {
  it.each(CASES_WITH_CRONJOBS)(
    "%s: the batch pods run the server's image with its hardening, their own ServiceAccount and no API token",
    (name) => {
      const manifests = withCronJobs()[name];
      const server = podSpecOf(only(manifests, 'Deployment'));
      for (const job of cronJobsOf(manifests)) {
        const spec = podSpecOf(job);
        const container = containerOf(job);
        expect(spec.containers).toHaveLength(1);
        expect(container.name).toBe(componentOf(job));
        expect(container.image).toBe(serverContainer(manifests).image);
        expect(spec.securityContext).toEqual(server.securityContext);
        expect(container.securityContext).toEqual(serverContainer(manifests).securityContext);
        expect(spec.automountServiceAccountToken).toBe(false);
        // Never the server's: each job its own (both scoring jobs share "score"), see
        // security-per-job-identities.test.ts.
        const identity = componentOf(job)!.startsWith('score-') ? 'score' : componentOf(job);
        expect(spec.serviceAccountName).toBe(`ci-customer-intelligence-${identity}`);
        expect(spec.serviceAccountName).not.toBe(server.serviceAccountName);
        // The root filesystem is read-only: a writable /tmp, as the server has.
        const tmp = spec.volumes!.find((v) => v.name === 'tmp');
        expect(tmp?.emptyDir).toBeDefined();
        expect(container.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
      }
    },
  );

  it('takes resources per job from values, merged into defaults that keep the pods out of BestEffort', () => {
    const resourcesOf = (job: Manifest) => (containerOf(job) as { resources?: unknown }).resources;
    const defaults: Record<string, unknown> = Object.fromEntries(
      cronJobsOf(renders.defaults()).map((job) => [componentOf(job), resourcesOf(job)]),
    );
    expect(defaults).toEqual({
      'score-churn': { requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } },
      'score-clv': { requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } },
      train: { requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '2', memory: '2Gi' } },
      retention: { requests: { cpu: '50m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
    });
    // production sets requests and a memory limit; the default CPU limit stays (a key set to null drops it).
    const production = manifestsOf('production');
    expect(resourcesOf(cronJob(production, 'train'))).toEqual({
      requests: { cpu: '1', memory: '2Gi' },
      limits: { cpu: '2', memory: '2Gi' },
    });
    expect(resourcesOf(cronJob(production, 'score-churn'))).toEqual({
      requests: { cpu: '250m', memory: '256Mi' },
      limits: { cpu: '1', memory: '256Mi' },
    });
    expect(resourcesOf(cronJob(production, 'retention'))).toEqual(defaults.retention);
  });

  it.each(CASES_WITH_CRONJOBS)(
    '%s: every batch CLI gets a database URL from a Secret or the Vault Agent (unset, it would start the embedded Postgres)',
    async (name) => {
      const manifests = withCronJobs()[name];
      const dir = await mkdtemp(path.join(os.tmpdir(), 'ci-batch-db-'));
      try {
        for (const job of cronJobsOf(manifests)) {
          const env = containerEnvironment(manifests, containerOf(job), fakeSecret, () => 'run-1');
          if (env.DATABASE_URL_FILE === undefined) {
            const url = containerOf(job).env!.find((e) => e.name === 'DATABASE_URL');
            expect(url?.valueFrom?.secretKeyRef, job.metadata.name).toBeDefined();
          } else {
            // What the agent's init container renders, read by the CLI's own parser from where it is told to.
            const annotations = podTemplateOf(job).metadata.annotations!;
            expect(env.DATABASE_URL_FILE).toBe(`${VAULT_SECRETS}/database_url`);
            expect(annotations['vault.hashicorp.com/agent-inject-secret-database_url']).toMatch(
              /^database\/creds\//,
            );
            expect(annotations[PRE_POPULATE_ONLY], job.metadata.name).toBe('true');
            env.DATABASE_URL_FILE = path.join(dir, 'database_url');
            await writeFile(
              env.DATABASE_URL_FILE,
              'postgres://v-batch-1:pass@postgres-primary.db.svc:5432/ci\n',
            );
          }
          expect(loadBatchEnvironment(env).databaseUrl, job.metadata.name).toMatch(/^postgres:\/\//);
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  it("uses the batch Secret when named, else Vault's database credentials with the injector, else the server's Secret", async () => {
    const ref = (manifests: readonly Manifest[]) =>
      containerOf(cronJob(manifests, 'retention')).env!.find((e) => e.name === 'DATABASE_URL')?.valueFrom
        ?.secretKeyRef;
    const vaultPathOf = (manifests: readonly Manifest[], job = 'retention') =>
      podTemplateOf(cronJob(manifests, job)).metadata.annotations?.[
        'vault.hashicorp.com/agent-inject-secret-database_url'
      ];
    expect(ref(renders.defaults())).toEqual({ name: 'customer-intelligence-db', key: 'DATABASE_URL' });
    expect(vaultPathOf(renders.defaults())).toBeUndefined();
    // production: the injector and Vault database credentials, each job with a role of its own (the scoring
    // jobs' from cronJobs.database.vaultRole); retention drops partitions, which needs their owner: its own role,
    // not the migration hook's (security-per-job-identities.test.ts refuses the fallbacks).
    expect(ref(manifestsOf('production'))).toBeUndefined();
    for (const job of ['score-churn', 'score-clv']) {
      expect(vaultPathOf(manifestsOf('production'), job)).toBe('database/creds/customer-intelligence-batch');
    }
    expect(vaultPathOf(manifestsOf('production'), 'train')).toBe(
      'database/creds/customer-intelligence-train',
    );
    expect(vaultPathOf(manifestsOf('production'))).toBe('database/creds/customer-intelligence-retention');
    const shared = await render({
      ciCase: 'production',
      set: {
        'secrets.vault.jobs.train.databaseRole': '',
        'secrets.vault.jobs.score.databaseRole': 'score-db',
      },
    });
    expect(vaultPathOf(shared, 'score-churn')).toBe('database/creds/score-db');
    expect(vaultPathOf(shared, 'train')).toBe('database/creds/customer-intelligence-batch');
    const named = await render({
      ciCase: 'production',
      set: { 'cronJobs.database.existingSecret': 'batch-db' },
    });
    expect(ref(named)).toEqual({ name: 'batch-db', key: 'DATABASE_URL' });
    expect(vaultAnnotationsOf(cronJob(named, 'retention'))).toEqual([]); // nothing left for an agent to render
    const custom = await render({
      set: {
        'cronJobs.enabled': 'true',
        'cronJobs.database.existingSecret': 'batch-db',
        'cronJobs.database.urlKey': 'url',
      },
    });
    expect(ref(custom)).toEqual({ name: 'batch-db', key: 'url' });
    // direct: the server's Vault client is no use to the CLIs.
    await expect(
      render({
        ciCase: 'production',
        set: {
          'secrets.provider': 'direct',
          'migration.enabled': 'false',
          'cronJobs.scoring.credential.existingSecret': 'batch-key',
        },
      }),
    ).rejects.toThrow(
      'cronJobs need cronJobs.database.existingSecret (or database.existingSecret): a Secret holding the batch jobs',
    );
  });
});

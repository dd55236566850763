import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBatchEnvironment } from '../../batch/src/cli/batch-environment.js';
import { parseScoreArgs } from '../../batch/src/score/score-options.js';
import { scoringCredentialsFromEnv } from '../../batch/src/score/scoring-credentials.js';
import { TRAINED_MODELS } from '../../batch/src/train/train-job.js';
import {
  CHART_DIR,
  matchesSelector,
  only,
  podSpecOf,
  podTemplateOf,
  render,
  renderCiCasesOnce,
  serverContainer,
  type Container,
  type CronJob,
  type Labels,
  type Manifest,
} from '../helpers/helm.js';
import { containerEnvironment, type SecretKeyRef } from '../helpers/pod-environment.js';
import { createCa, type Ca, type Issued } from '../helpers/pki.js';

// The batch CronJobs (scoring, training, retention) on the rendered objects, and the scoring jobs' command line
// and environment read by the batch CLIs' own parsers: what the chart renders is what the CLIs understand.
const manifestsOf = renderCiCasesOnce();

/** The chart's defaults with the CronJobs switched on (minimal: plaintext, no auth, a database Secret). */
let defaults: Manifest[];
beforeAll(async () => {
  defaults = await render({ set: { 'cronJobs.enabled': 'true' } });
});

/** The renderings that have CronJobs, by name. */
const withCronJobs = () => ({
  defaults,
  production: manifestsOf('production'),
  'vault-direct': manifestsOf('vault-direct'),
});
const CASES_WITH_CRONJOBS = ['defaults', 'production', 'vault-direct'] as const;

const JOB_NAME_LABEL = "metadata.labels['batch.kubernetes.io/job-name']";
const VAULT_SECRETS = '/vault/secrets';
const INJECT = 'vault.hashicorp.com/agent-inject';
const PRE_POPULATE_ONLY = 'vault.hashicorp.com/agent-pre-populate-only';

const cronJobsOf = (manifests: readonly Manifest[]) =>
  manifests.filter((m): m is CronJob => m.kind === 'CronJob');
const componentOf = (manifest: Manifest) => manifest.metadata.labels?.['app.kubernetes.io/component'];
const cronJob = (manifests: readonly Manifest[], component: string) =>
  only<CronJob>(manifests, 'CronJob', component);
const containerOf = (job: Manifest): Container => podSpecOf(job).containers[0]!;
const vaultAnnotationsOf = (job: Manifest) =>
  Object.keys(podTemplateOf(job).metadata.annotations ?? {}).filter((k) =>
    k.startsWith('vault.hashicorp.com/'),
  );

/** A fake value for a Secret the chart references: a database URL for DATABASE_URL, else a marker. */
function fakeSecret(ref: SecretKeyRef, variable: string): string {
  return variable === 'DATABASE_URL' ? `postgres://batch:pass@${ref.name}:5432/ci` : `fake-${ref.key}`;
}

/** The scoring container's environment in the pod of shard `index` of the Job `jobName`, as Kubernetes sets it. */
function shardEnvironment(
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
const cliArgs = (job: CronJob) => containerOf(job).args!.slice(1);

describe('schedules and switches', () => {
  it('are off by default; cronJobs.enabled renders the four jobs on the issue schedules, in UTC', () => {
    expect(cronJobsOf(manifestsOf('minimal'))).toEqual([]);
    expect(cronJobsOf(manifestsOf('everything-off'))).toEqual([]);
    const schedules = Object.fromEntries(
      cronJobsOf(defaults).map((job) => [job.metadata.name, [job.spec.schedule, job.spec.timeZone]]),
    );
    expect(schedules).toEqual({
      'ci-customer-intelligence-score-churn': ['0 2 * * *', 'Etc/UTC'], // daily 02:00
      'ci-customer-intelligence-score-clv': ['0 3 * * *', 'Etc/UTC'], // daily 03:00
      'ci-customer-intelligence-train': ['0 1 * * 0', 'Etc/UTC'], // Sundays 01:00
      'ci-customer-intelligence-retention': ['0 4 * * *', 'Etc/UTC'], // daily 04:00
    });
  });

  it('switches each job off on its own, and its NetworkPolicy peer with it', async () => {
    const manifests = await render({
      ciCase: 'production',
      set: { 'cronJobs.scoring.churn.enabled': 'false', 'cronJobs.retention.enabled': 'false' },
    });
    expect(cronJobsOf(manifests).map(componentOf)).toEqual(['score-clv', 'train']);
    const policy = only(manifests, 'NetworkPolicy', 'server').spec as ServerPolicySpec;
    expect(JSON.stringify(policy.ingress)).not.toContain('score-churn');
    expect(JSON.stringify(policy.ingress)).toContain('score-clv');
  });

  it('renders the time zone and the schedules from values', async () => {
    const manifests = await render({
      set: {
        'cronJobs.enabled': 'true',
        'cronJobs.timeZone': 'Europe/Berlin',
        'cronJobs.retention.schedule': '@daily',
      },
    });
    expect(cronJobsOf(manifests).map((job) => job.spec.timeZone)).toEqual(Array(4).fill('Europe/Berlin'));
    expect(cronJob(manifests, 'retention').spec.schedule).toBe('@daily');
  });
});

describe('run policy', () => {
  it.each(CASES_WITH_CRONJOBS)(
    '%s: every CronJob forbids overlap and sets a starting deadline, history limits, a TTL, a deadline and restartPolicy Never',
    (name) => {
      const jobs = cronJobsOf(withCronJobs()[name]);
      expect(jobs.length).toBeGreaterThan(0);
      for (const job of jobs) {
        const at = job.metadata.name;
        expect(job.spec.concurrencyPolicy, at).toBe('Forbid');
        expect(job.spec.timeZone, at).toBe('Etc/UTC');
        expect(job.spec.startingDeadlineSeconds, at).toBeGreaterThanOrEqual(10);
        expect(job.spec.successfulJobsHistoryLimit, at).toEqual(expect.any(Number));
        expect(job.spec.failedJobsHistoryLimit, at).toBeGreaterThan(0);
        const spec = job.spec.jobTemplate.spec;
        expect(spec.ttlSecondsAfterFinished, at).toBeGreaterThan(0);
        expect(spec.activeDeadlineSeconds, at).toBeGreaterThan(0);
        expect(spec.template.spec.restartPolicy, at).toBe('Never');
        // A retry limit of either kind: per shard for the Indexed scoring Jobs, per Job otherwise.
        expect(spec.backoffLimitPerIndex ?? spec.backoffLimit, at).toEqual(expect.any(Number));
      }
    },
  );

  it.each(CASES_WITH_CRONJOBS)(
    '%s: a usage error (exit 2) fails the run at once; an evicted or drained pod is retried without counting',
    (name) => {
      for (const job of cronJobsOf(withCronJobs()[name])) {
        expect(job.spec.jobTemplate.spec.podFailurePolicy?.rules, job.metadata.name).toEqual([
          { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
          {
            action: 'FailJob',
            // Only the CLI's container: the Vault Agent init container has exit codes of its own.
            onExitCodes: { containerName: containerOf(job).name, operator: 'In', values: [2] },
          },
        ]);
      }
    },
  );

  it('retries a scoring shard on its own (backoffLimitPerIndex); training and retention per Job', async () => {
    const production = manifestsOf('production');
    const churn = cronJob(production, 'score-churn').spec.jobTemplate.spec;
    expect(churn.backoffLimitPerIndex).toBe(3);
    // No Job-wide limit: unset, Kubernetes lets every shard use its own retries.
    expect(churn.backoffLimit).toBeUndefined();
    expect(cronJob(production, 'score-clv').spec.jobTemplate.spec.backoffLimitPerIndex).toBe(2);
    expect(cronJob(production, 'train').spec.jobTemplate.spec).toMatchObject({ backoffLimit: 1 });
    expect(cronJob(production, 'retention').spec.jobTemplate.spec).toMatchObject({ backoffLimit: 2 });
    for (const component of ['train', 'retention']) {
      const spec = cronJob(production, component).spec.jobTemplate.spec;
      expect(spec.completionMode).toBeUndefined();
      expect(spec.backoffLimitPerIndex).toBeUndefined();
    }
    const changed = await render({
      set: { 'cronJobs.enabled': 'true', 'cronJobs.training.backoffLimit': '4' },
    });
    expect(cronJob(changed, 'train').spec.jobTemplate.spec.backoffLimit).toBe(4);
  });

  it('takes the deadlines, TTL, history limits and starting deadline from values', () => {
    const production = manifestsOf('production');
    const churn = cronJob(production, 'score-churn');
    expect(churn.spec).toMatchObject({
      startingDeadlineSeconds: 1800,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 5,
    });
    expect(churn.spec.jobTemplate.spec).toMatchObject({
      activeDeadlineSeconds: 10800,
      ttlSecondsAfterFinished: 604800,
    });
    expect(cronJob(production, 'train').spec.jobTemplate.spec.activeDeadlineSeconds).toBe(7200);
  });
});

describe('sharded scoring', () => {
  it.each([
    ['defaults', 'score-churn', 'churn', 2, 2],
    ['defaults', 'score-clv', 'clv', 2, 2],
    ['production', 'score-churn', 'churn', 8, 4],
    ['production', 'score-clv', 'clv', 4, 4],
  ] as const)(
    '%s %s: an Indexed Job of one pod per shard; every pod parses as its own shard of one run',
    (name, component, model, shards, parallelism) => {
      const manifests = withCronJobs()[name];
      const job = cronJob(manifests, component);
      expect(job.spec.jobTemplate.spec).toMatchObject({
        completionMode: 'Indexed',
        completions: shards,
        parallelism,
      });
      const container = containerOf(job);
      expect(container.args).toEqual([
        'dist/batch/src/score/score-cli.js',
        '--model',
        model,
        '--shard-count',
        String(shards),
      ]);
      // The index is the pod's own (JOB_COMPLETION_INDEX): never fixed in the template.
      expect(container.args).not.toContain('--shard-index');
      expect(container.env!.map((e) => e.name)).not.toContain('JOB_COMPLETION_INDEX');

      const jobName = `${job.metadata.name}-29412345`; // what the CronJob controller names a run
      for (let index = 0; index < shards; index++) {
        const options = parseScoreArgs(cliArgs(job), shardEnvironment(manifests, job, jobName, index))!;
        expect(options).toMatchObject({ model, shardIndex: index, shardCount: shards, runId: jobName });
      }
      // One index past the last is refused: completions and --shard-count agree at both ends.
      expect(() => parseScoreArgs(cliArgs(job), shardEnvironment(manifests, job, jobName, shards))).toThrow(
        /must be below --shard-count/,
      );
    },
  );

  it('BATCH_RUN_ID is the Job name from the job-name label, so every shard and retry shares the run', () => {
    for (const manifests of Object.values(withCronJobs())) {
      for (const job of cronJobsOf(manifests)) {
        const runId = containerOf(job).env!.find((e) => e.name === 'BATCH_RUN_ID');
        if (componentOf(job)!.startsWith('score-')) {
          expect(runId).toEqual({
            name: 'BATCH_RUN_ID',
            valueFrom: { fieldRef: { fieldPath: JOB_NAME_LABEL } },
          });
        } else {
          expect(runId, job.metadata.name).toBeUndefined();
        }
      }
    }
    // A Job made by hand from the CronJob (kubectl create job --from) runs under its own name, too.
    const job = cronJob(defaults, 'score-churn');
    expect(parseScoreArgs(cliArgs(job), shardEnvironment(defaults, job, 'churn-manual-1', 0))!.runId).toBe(
      'churn-manual-1',
    );
  });

  it('caps parallelism at the shard count and changes both with the values', async () => {
    const manifests = await render({
      set: {
        'cronJobs.enabled': 'true',
        'cronJobs.scoring.churn.shards': '6',
        'cronJobs.scoring.churn.parallelism': '20',
        'cronJobs.scoring.clv.parallelism': '1',
      },
    });
    const churn = cronJob(manifests, 'score-churn');
    expect(churn.spec.jobTemplate.spec).toMatchObject({ completions: 6, parallelism: 6 });
    expect(containerOf(churn).args!.slice(-2)).toEqual(['--shard-count', '6']);
    expect(cronJob(manifests, 'score-clv').spec.jobTemplate.spec).toMatchObject({
      completions: 2,
      parallelism: 1,
    });
  });

  it('keeps the CronJob name short enough for the Jobs and Indexed pod hostnames Kubernetes derives from it', async () => {
    const shards = 100;
    const manifests = await render({
      set: {
        'cronJobs.enabled': 'true',
        fullnameOverride: 'a'.repeat(63),
        'cronJobs.scoring.churn.shards': String(shards),
      },
    });
    for (const job of cronJobsOf(manifests)) {
      const name = job.metadata.name;
      expect(name.length, name).toBeLessThanOrEqual(52);
      expect(name).toMatch(new RegExp(`-${componentOf(job)}$`));
      const completions = job.spec.jobTemplate.spec.completions;
      if (completions !== undefined) {
        // The pod hostname of an Indexed Job: "<job>-<index>", the Job "<cronjob>-<scheduled minute>".
        expect(`${name}-29412345-${completions - 1}`.length, name).toBeLessThanOrEqual(63);
      }
    }
    expect(cronJob(manifests, 'score-churn').metadata.name.length).toBe(51);
  });
});

describe('training and retention', () => {
  it('train into the model registry (no --out) with the gate margin; keep 30 days by default', () => {
    expect(containerOf(cronJob(defaults, 'train')).args).toEqual([
      'dist/batch/src/train/train-cli.js',
      '--margin',
      '0.01',
    ]);
    expect(containerOf(cronJob(manifestsOf('production'), 'train')).args).toEqual([
      'dist/batch/src/train/train-cli.js',
      '--margin',
      '0.005',
      '--model',
      'churn',
      '--model',
      'clv',
    ]);
    expect(containerOf(cronJob(defaults, 'retention')).args).toEqual([
      'dist/batch/src/retention/retention-cli.js',
      '--retention-days',
      '30',
    ]);
    expect(containerOf(cronJob(manifestsOf('production'), 'retention')).args).toContain('90');
  });

  it("the model names the schema allows are the training CLI's, and the scoring jobs use them", async () => {
    const schema = JSON.parse(await readFile(path.join(CHART_DIR, 'values.schema.json'), 'utf8')) as {
      properties: {
        cronJobs: {
          properties: {
            training: { properties: { models: { items: { enum: string[] } } } };
            scoring: { properties: Record<string, unknown> };
          };
        };
      };
    };
    const cron = schema.properties.cronJobs.properties;
    const trained = Object.keys(TRAINED_MODELS).sort();
    expect([...cron.training.properties.models.items.enum].sort()).toEqual(trained);
    const scored = Object.keys(cron.scoring.properties).filter((key) => !['credential', 'tls'].includes(key));
    expect(scored.sort()).toEqual(trained);
  });
});

describe('pods', () => {
  it.each(CASES_WITH_CRONJOBS)(
    "%s: the batch pods run the server's image with its hardening, ServiceAccount and no API token",
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
        expect(spec.serviceAccountName).toBe(server.serviceAccountName);
        // The root filesystem is read-only: a writable /tmp, as the server has.
        const tmp = spec.volumes!.find((v) => v.name === 'tmp');
        expect(tmp?.emptyDir).toBeDefined();
        expect(container.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
      }
    },
  );

  it('takes resources per job from values, none by default', () => {
    for (const job of cronJobsOf(defaults)) {
      expect((containerOf(job) as { resources?: unknown }).resources).toBeUndefined();
    }
    const production = manifestsOf('production');
    expect((containerOf(cronJob(production, 'train')) as { resources?: unknown }).resources).toEqual({
      requests: { cpu: '1', memory: '2Gi' },
      limits: { memory: '2Gi' },
    });
    expect((containerOf(cronJob(production, 'score-churn')) as { resources?: unknown }).resources).toEqual({
      requests: { cpu: '250m', memory: '256Mi' },
      limits: { memory: '256Mi' },
    });
    expect(
      (containerOf(cronJob(production, 'retention')) as { resources?: unknown }).resources,
    ).toBeUndefined();
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
    expect(ref(defaults)).toEqual({ name: 'customer-intelligence-db', key: 'DATABASE_URL' });
    expect(vaultPathOf(defaults)).toBeUndefined();
    // production: the injector and Vault database credentials, with a batch role of its own; retention drops
    // partitions, which needs their owner: the migration hook's role.
    expect(ref(manifestsOf('production'))).toBeUndefined();
    for (const job of ['score-churn', 'score-clv', 'train']) {
      expect(vaultPathOf(manifestsOf('production'), job)).toBe('database/creds/customer-intelligence-batch');
    }
    expect(vaultPathOf(manifestsOf('production'))).toBe('database/creds/customer-intelligence-owner');
    const retentionRole = await render({
      ciCase: 'production',
      set: { 'cronJobs.retention.vaultRole': 'customer-intelligence-retention' },
    });
    expect(vaultPathOf(retentionRole)).toBe('database/creds/customer-intelligence-retention');
    const serverRole = await render({
      ciCase: 'production',
      set: { 'cronJobs.database.vaultRole': '', 'secrets.vault.database.migrationRole': '' },
    });
    expect(vaultPathOf(serverRole, 'score-churn')).toBe('database/creds/customer-intelligence-server');
    expect(vaultPathOf(serverRole)).toBe('database/creds/customer-intelligence-server');
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

describe('scoring credentials', () => {
  let fakeRoot: string;
  let ca: Ca;
  let client: Issued;
  beforeAll(async () => {
    fakeRoot = await mkdtemp(path.join(os.tmpdir(), 'chart-cronjobs-'));
    ca = await createCa('chart-test-ca');
    client = await ca.issue({ commonName: 'batch' });
  });
  afterAll(async () => {
    await rm(fakeRoot, { recursive: true, force: true });
  });

  /** `env` with every SCORING_*_FILE moved under fakeRoot, where a file with plausible content now exists. */
  async function withFakeFiles(env: Record<string, string>): Promise<Record<string, string>> {
    const contents: Record<string, string> = {
      SCORING_TLS_CA_FILE: ca.certPem,
      SCORING_TLS_CERT_FILE: client.certPem,
      SCORING_TLS_KEY_FILE: client.keyPem,
      SCORING_API_KEY_FILE: 'fake-api-key',
      SCORING_BEARER_TOKEN_FILE: 'fake.jwt.token',
    };
    const moved = { ...env };
    for (const [name, file] of Object.entries(env)) {
      if (!name.endsWith('_FILE')) continue;
      const fake = path.join(fakeRoot, file);
      await mkdir(path.dirname(fake), { recursive: true });
      await writeFile(fake, contents[name] ?? 'fake');
      moved[name] = fake;
    }
    return moved;
  }

  /** Where a file the scoring container is told to read comes from: a mounted volume or the Vault Agent. */
  function fileSource(job: CronJob, file: string): string | undefined {
    const mount = containerOf(job).volumeMounts?.find((m) => file.startsWith(`${m.mountPath}/`));
    if (mount !== undefined) return `volume ${mount.name}`;
    const key = file.slice(VAULT_SECRETS.length + 1);
    const annotations = podTemplateOf(job).metadata.annotations ?? {};
    if (
      file.startsWith(`${VAULT_SECRETS}/`) &&
      annotations[`vault.hashicorp.com/agent-inject-secret-${key}`]
    ) {
      return `vault agent ${key}`;
    }
    return undefined;
  }

  it.each([
    ['defaults', {}, 'plaintext', 'dns:///ci-customer-intelligence-headless.ml.svc:50051'],
    // Through the headless name, the certificate is checked for the Service's name.
    [
      'production',
      {},
      'mtls, server name ci-customer-intelligence.ml.svc, api key from file',
      'dns:///ci-customer-intelligence-headless.ml.svc:50051',
    ],
    [
      'vault-direct',
      {},
      'tls, server name ci-customer-intelligence.ml.svc, api key from file',
      'dns:///ci-customer-intelligence-headless.ml.svc:50051',
    ],
    [
      'production',
      {
        'cronJobs.scoring.credential.type': 'bearerToken',
        'cronJobs.scoring.credential.existingSecret': 'jwt',
      },
      'mtls, server name ci-customer-intelligence.ml.svc, bearer token from file',
      'dns:///ci-customer-intelligence-headless.ml.svc:50051',
    ],
    [
      'production',
      { 'cronJobs.scoring.tls.existingSecret': '', 'service.headless.enabled': 'false' },
      'mtls, api key from file',
      'ci-customer-intelligence.ml.svc:50051',
    ],
  ] as const)(
    '%s %j: the CLI builds the transport and credential the server expects (%s)',
    async (name, set, description, address) => {
      const manifests =
        Object.keys(set).length === 0 ? withCronJobs()[name] : await render({ ciCase: name, set });
      const scoring = cronJobsOf(manifests).filter((job) => componentOf(job)!.startsWith('score-'));
      expect(scoring.length).toBeGreaterThan(0);
      for (const job of scoring) {
        const env = shardEnvironment(manifests, job, 'run-1', 0);
        for (const [variable, file] of Object.entries(env).filter(([n]) => n.endsWith('_FILE'))) {
          expect(fileSource(job, file), `${variable}=${file}`).toBeDefined();
        }
        const credentials = await scoringCredentialsFromEnv(await withFakeFiles(env));
        expect(credentials.description).toBe(description);
        expect(parseScoreArgs(cliArgs(job), env)!.address).toBe(address);
      }
    },
  );

  it('mounts Secret files read-only with only the keys the CLI reads, no subPath', () => {
    const job = cronJob(manifestsOf('vault-direct'), 'score-churn');
    const volumes = podSpecOf(job).volumes as Array<{ name: string; secret?: unknown }>;
    expect(volumes.filter((v) => v.secret !== undefined)).toEqual([
      {
        name: 'scoring-tls',
        secret: {
          secretName: 'customer-intelligence-server-ca',
          defaultMode: 0o440,
          // tls only: the CA; the Secret's key (if any) never travels.
          items: [{ key: 'ca.crt', path: 'ca.crt' }],
        },
      },
      {
        name: 'scoring-credential',
        secret: {
          secretName: 'customer-intelligence-batch-api-key',
          defaultMode: 0o440,
          items: [{ key: 'api-key', path: 'api-key' }],
        },
      },
    ]);
    for (const mount of containerOf(job).volumeMounts!.filter((m) => m.name !== 'tmp')) {
      expect(mount).toEqual({ name: mount.name, mountPath: expect.any(String), readOnly: true });
    }
  });

  it.each([
    [
      'auth required without a credential',
      'minimal',
      {
        'cronJobs.enabled': 'true',
        'auth.mode': 'required',
        'auth.apiKeys.enabled': 'true',
        'auth.apiKeys.existingSecret': 'keys',
      },
      'the scoring CronJobs with auth.mode=required need cronJobs.scoring.credential.existingSecret',
    ],
    [
      'a Vault credential in direct mode (the CLIs have no Vault client)',
      'production',
      {
        'secrets.provider': 'direct',
        'migration.enabled': 'false',
        'cronJobs.database.existingSecret': 'db',
      },
      'with secrets.provider=direct the batch CLIs cannot read Vault',
    ],
    [
      'mTLS without a client certificate',
      'minimal',
      {
        'cronJobs.enabled': 'true',
        'grpc.tls.mode': 'mtls',
        'grpc.tls.existingSecret': 'tls',
        'tests.enabled': 'false',
      },
      'need cronJobs.scoring.tls.existingSecret: ca.crt to verify the server, tls.crt/tls.key as the client certificate',
    ],
    [
      'an API key the server would not check',
      'vault-direct',
      { 'auth.apiKeys.enabled': 'false' },
      'cronJobs.scoring.credential.type=apiKey needs auth.apiKeys.enabled',
    ],
    [
      'a bearer token the server could not verify',
      'production',
      { 'cronJobs.scoring.credential.type': 'bearerToken', 'auth.jwt.keySource': 'none' },
      'cronJobs.scoring.credential.type=bearerToken needs an auth.jwt.keySource',
    ],
    [
      'Vault keys without a KV path',
      'production',
      { 'auth.apiKeys.existingSecret': 'keys', 'secrets.vault.kv.path': '' },
      'secrets.vault.kv.path is required: the KV keys batch_api_key of the scoring CronJobs come from Vault',
    ],
  ])('refuses %s, naming the value to set', async (_name, ciCase, set, message) => {
    await expect(render({ ciCase, set })).rejects.toThrow(message);
  });

  it('needs nothing of the kind for training and retention alone', async () => {
    const manifests = await render({
      ciCase: 'vault-direct',
      set: {
        'cronJobs.scoring.churn.enabled': 'false',
        'cronJobs.scoring.credential.existingSecret': '',
        'cronJobs.scoring.tls.existingSecret': '',
      },
    });
    expect(cronJobsOf(manifests).map(componentOf)).toEqual(['retention']);
    expect(containerOf(cronJob(manifests, 'retention')).env!.map((e) => e.name)).toEqual([
      'DATABASE_URL',
      'LOG_LEVEL',
      'DATABASE_CONNECT_TIMEOUT_MS',
    ]);
  });
});

describe('Vault Agent injector', () => {
  it('every CronJob that takes files from Vault runs the agent as an init container only (pre-populate-only)', () => {
    const production = manifestsOf('production');
    for (const component of ['score-churn', 'score-clv']) {
      const job = cronJob(production, component);
      const annotations = podTemplateOf(job).metadata.annotations!;
      expect(annotations).toMatchObject({
        [INJECT]: 'true',
        [PRE_POPULATE_ONLY]: 'true',
        'vault.hashicorp.com/role': 'customer-intelligence',
        'vault.hashicorp.com/agent-service-account-token-volume-name': 'vault-token',
        'vault.hashicorp.com/agent-inject-secret-batch_api_key': 'secret/data/ml/customer-intelligence',
        'vault.hashicorp.com/agent-inject-template-batch_api_key':
          '{{- with secret "secret/data/ml/customer-intelligence" -}}{{ .Data.data.batch_api_key }}{{- end -}}',
        'vault.hashicorp.com/agent-inject-perms-batch_api_key': '0400',
        // podAnnotations are kept beside the chart's.
        'sidecar.istio.io/inject': 'false',
      });
      // Only what the CLI reads (the API key, the database credentials): the client certificate comes from
      // its Secret.
      expect(Object.keys(annotations).filter((k) => k.includes('agent-inject-secret-'))).toEqual([
        'vault.hashicorp.com/agent-inject-secret-batch_api_key',
        'vault.hashicorp.com/agent-inject-secret-database_url',
      ]);
      // The agent's login token: projected, Vault's audience; the CLI's container does not mount it.
      expect(podSpecOf(job).volumes).toContainEqual({
        name: 'vault-token',
        projected: {
          sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3600, audience: 'vault' } }],
        },
      });
      expect(containerOf(job).volumeMounts!.map((m) => m.name)).not.toContain('vault-token');
    }
  });

  it.each(['production', 'vault-direct', 'defaults'] as const)(
    '%s: an agent only with the injector and something to inject, and then always pre-populate-only',
    (name) => {
      const injector = name === 'production';
      for (const job of cronJobsOf(withCronJobs()[name])) {
        const vault = vaultAnnotationsOf(job);
        const fromVault = Object.values(
          containerEnvironment(withCronJobs()[name], containerOf(job), fakeSecret, () => 'run-1'),
        ).some((value) => value.startsWith(`${VAULT_SECRETS}/`));
        expect(fromVault, job.metadata.name).toBe(vault.length > 0);
        if (!injector) expect(vault, job.metadata.name).toEqual([]);
        if (vault.length > 0) {
          expect(podTemplateOf(job).metadata.annotations![PRE_POPULATE_ONLY], job.metadata.name).toBe('true');
        }
      }
    },
  );

  it('renders the TLS material from KV too when no Secret is named', async () => {
    const manifests = await render({
      ciCase: 'production',
      set: { 'cronJobs.scoring.tls.existingSecret': '' },
    });
    const job = cronJob(manifests, 'score-churn');
    const injected = Object.keys(podTemplateOf(job).metadata.annotations!)
      .filter((k) => k.startsWith('vault.hashicorp.com/agent-inject-secret-'))
      .map((k) => k.replace('vault.hashicorp.com/agent-inject-secret-', ''))
      .sort();
    expect(injected).toEqual([
      'batch_api_key',
      'batch_tls_ca',
      'batch_tls_cert',
      'batch_tls_key',
      'database_url',
    ]);
    expect(podTemplateOf(job).metadata.annotations![PRE_POPULATE_ONLY]).toBe('true');
    expect(containerOf(job).env).toContainEqual({
      name: 'SCORING_TLS_KEY_FILE',
      value: '/vault/secrets/batch_tls_key',
    });
  });
});

interface Peer {
  namespaceSelector?: { matchLabels: Labels };
  podSelector?: {
    matchLabels?: Labels;
    matchExpressions?: Array<{ key: string; operator: string; values: string[] }>;
  };
  ipBlock?: { cidr: string };
}
interface ServerPolicySpec {
  ingress: Array<{ ports: Array<{ port: number | string }>; from: Peer[] }>;
}
interface BatchPolicySpec {
  podSelector: NonNullable<Peer['podSelector']>;
  policyTypes: string[];
  ingress: unknown[];
  egress: Array<{ ports: Array<{ port: number | string; protocol: string }>; to: Peer[] }>;
}

/** Whether a LabelSelector (matchLabels and In expressions) selects these labels. */
function selects(selector: NonNullable<Peer['podSelector']>, labels: Labels): boolean {
  return (
    matchesSelector(selector.matchLabels ?? {}, labels) &&
    (selector.matchExpressions ?? []).every(
      (e) => e.operator === 'In' && e.values.includes(labels[e.key] ?? '\u0000'),
    )
  );
}

describe('NetworkPolicy', () => {
  /** Pod labels of the server, migration, test and batch pods, by component. */
  function podLabelsOf(manifests: readonly Manifest[]): Record<string, Labels> {
    const labels: Record<string, Labels> = {
      server: podTemplateOf(only(manifests, 'Deployment')).metadata.labels,
      migration: podTemplateOf(only(manifests, 'Job', 'migration')).metadata.labels,
      test: only(manifests, 'Pod', 'test').metadata.labels!,
    };
    for (const job of cronJobsOf(manifests)) labels[componentOf(job)!] = podTemplateOf(job).metadata.labels;
    return labels;
  }

  it("lets the scoring pods, and no other batch pod, through the server's gRPC ingress", () => {
    const manifests = manifestsOf('production');
    const grpc = (only(manifests, 'NetworkPolicy', 'server').spec as ServerPolicySpec).ingress.find((rule) =>
      rule.ports.some((p) => p.port === 'grpc'),
    )!;
    // Peers in the release namespace: a podSelector without a namespaceSelector.
    const local = grpc.from.filter((p) => p.podSelector && !p.namespaceSelector);
    const admitted = (labels: Labels) => local.some((p) => selects(p.podSelector!, labels));
    const pods = podLabelsOf(manifests);
    expect(admitted(pods['score-churn']!)).toBe(true);
    expect(admitted(pods['score-clv']!)).toBe(true);
    expect(admitted(pods.train!)).toBe(false);
    expect(admitted(pods.retention!)).toBe(false);
    expect(admitted(pods.migration!)).toBe(false);
  });

  it('gives the batch pods no ingress, and egress to Postgres, DNS, the server pods and Vault only', () => {
    const manifests = manifestsOf('production');
    const policy = only(manifests, 'NetworkPolicy', 'batch');
    expect(policy.metadata.name).toBe('ci-customer-intelligence-batch');
    const spec = policy.spec as BatchPolicySpec;
    const pods = podLabelsOf(manifests);
    for (const component of ['score-churn', 'score-clv', 'train', 'retention']) {
      expect(selects(spec.podSelector, pods[component]!), component).toBe(true);
    }
    for (const other of ['server', 'migration', 'test'] as const) {
      expect(selects(spec.podSelector, pods[other]!), other).toBe(false);
    }
    expect(spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(spec.ingress).toEqual([]);
    expect(spec.egress.flatMap((rule) => rule.ports.map((p) => p.port))).toEqual([5432, 53, 53, 50051, 8200]);
    const grpc = spec.egress.find((rule) => rule.ports.some((p) => p.port === 50051))!;
    expect(grpc.to).toHaveLength(1);
    expect(selects(grpc.to[0]!.podSelector!, pods.server!)).toBe(true);
    expect(selects(grpc.to[0]!.podSelector!, pods.migration!)).toBe(false);
    // The same Postgres and Vault destinations as the server's policy.
    const server = only(manifests, 'NetworkPolicy', 'server').spec as BatchPolicySpec;
    for (const port of [5432, 8200]) {
      const to = (s: BatchPolicySpec) => s.egress.find((rule) => rule.ports.some((p) => p.port === port))!.to;
      expect(to(spec), String(port)).toEqual(to(server));
    }
  });

  it('opens Vault to the batch pods only when they take files from the injector', async () => {
    const ports = (manifests: readonly Manifest[]) =>
      (only(manifests, 'NetworkPolicy', 'batch').spec as BatchPolicySpec).egress.flatMap((rule) =>
        rule.ports.map((p) => p.port),
      );
    // vault-direct: the batch CLIs have no Vault client; everything comes from Secrets.
    expect(ports(manifestsOf('vault-direct'))).toEqual([5432, 53, 53, 50051]);
    // Training and retention alone, with the injector: only their database credentials come from Vault.
    const noScoring = { 'cronJobs.scoring.churn.enabled': 'false', 'cronJobs.scoring.clv.enabled': 'false' };
    expect(ports(await render({ ciCase: 'production', set: noScoring }))).toEqual([5432, 53, 53, 8200]);
    const fromSecret = await render({
      ciCase: 'production',
      set: { ...noScoring, 'cronJobs.database.existingSecret': 'batch-db' },
    });
    expect(ports(fromSecret)).toEqual([5432, 53, 53]);
  });

  it('has no batch policy or peers without CronJobs or without the NetworkPolicy', async () => {
    const off = await render({ ciCase: 'production', set: { 'cronJobs.enabled': 'false' } });
    expect(off.filter((m) => m.kind === 'NetworkPolicy').map(componentOf)).toEqual(['server']);
    expect(JSON.stringify(only(off, 'NetworkPolicy', 'server'))).not.toMatch(/score-|train|retention/);
    expect(defaults.map((m) => m.kind)).not.toContain('NetworkPolicy');
  });
});

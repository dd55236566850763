import { describe, expect, it } from 'vitest';
import {
  CASES_WITH_CRONJOBS,
  componentOf,
  containerOf,
  cronJob,
  cronJobsOf,
  type ServerPolicySpec,
  rendersWithCronJobs,
} from '../helpers/cronjobs.js';
import { render, renderCiCasesOnce } from '../helpers/helm.js';
import { only } from '../helpers/manifests.js';

// The batch CronJobs' schedules and switches, and their run policy (no overlap, deadlines, retries, history
// and TTL), on the rendered objects.
const manifestsOf = renderCiCasesOnce();

const renders = rendersWithCronJobs(manifestsOf);
const withCronJobs = renders.byName;

describe('schedules and switches', () => {
  it('are off by default; cronJobs.enabled renders the four jobs on the issue schedules, in UTC', () => {
    expect(cronJobsOf(manifestsOf('minimal'))).toEqual([]);
    expect(cronJobsOf(manifestsOf('everything-off'))).toEqual([]);
    const schedules = Object.fromEntries(
      cronJobsOf(renders.defaults()).map((job) => [
        job.metadata.name,
        [job.spec.schedule, job.spec.timeZone],
      ]),
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

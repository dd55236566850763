import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScoreArgs } from '../../batch/src/score/score-options.js';
import { TRAINED_MODELS } from '../../batch/src/train/train-job.js';
import {
  JOB_NAME_LABEL,
  cliArgs,
  componentOf,
  containerOf,
  cronJob,
  cronJobsOf,
  shardEnvironment,
  rendersWithCronJobs,
} from '../helpers/cronjobs.js';
import { CHART_DIR, render, renderCiCasesOnce } from '../helpers/helm.js';

// What each batch CronJob runs: the scoring jobs as Indexed Jobs whose every pod, read by score-cli's own
// parser, is its own shard of one run; and the training and retention command lines.
const manifestsOf = renderCiCasesOnce();

const renders = rendersWithCronJobs(manifestsOf);
const withCronJobs = renders.byName;

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
    const job = cronJob(renders.defaults(), 'score-churn');
    expect(
      parseScoreArgs(cliArgs(job), shardEnvironment(renders.defaults(), job, 'churn-manual-1', 0))!.runId,
    ).toBe('churn-manual-1');
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
    expect(containerOf(cronJob(renders.defaults(), 'train')).args).toEqual([
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
    expect(containerOf(cronJob(renders.defaults(), 'retention')).args).toEqual([
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

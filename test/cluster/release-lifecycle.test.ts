import { readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ScoringClient } from '../../client/src/scoring-client.js';
import {
  apply,
  clusterHelm,
  isReady,
  kubectl,
  kubectlJson,
  podsOf,
  waitUntil,
  type PodStatus,
} from '../helpers/cluster.js';
import { ghz, type GhzResult } from '../helpers/ghz.js';
import { REPO_ROOT } from '../helpers/helm.js';
import { IMAGE_TAG, installRelease, NEXT_IMAGE_TAG, type Release } from '../helpers/release.js';
import { SAMPLE_FEATURES } from '../helpers/sample-features.js';
import { startSteadyLoad, type SteadyLoadResult } from '../helpers/steady-load.js';

/**
 * The release as an operator lives it, on a real cluster: install (migration hook, native gRPC probes, helm test
 * with its health check and authenticated Score call, a Score through the Service), then a rolling upgrade, a rollback and a deleted pod, each under steady load from
 * the documented client (retry policy on UNAVAILABLE) through the ClusterIP Service: no call may fail.
 */
const RATE_PER_SECOND = 100;
/** ghz beside it, at a lower rate: the figure users reproduce (ghz has no retry policy: bojand/ghz#413). */
const GHZ_RATE_PER_SECOND = 50;
const GHZ_WINDOW = '30s';

let release: Release;
let client: ScoringClient;
let caFile: string;

beforeAll(async () => {
  release = await installRelease({ name: 'lifecycle', postgresUrl: inject('postgresUrl') });
  client = release.client();
  caFile = path.join(await mkdtemp(path.join(os.tmpdir(), 'ci-lifecycle-')), 'ca.crt');
  await writeFile(caFile, release.caPem);
});
afterAll(async () => {
  client?.close();
  await release?.destroy();
  if (caFile) await rm(path.dirname(caFile), { recursive: true, force: true });
});

/** ghz through the Service for {@link GHZ_WINDOW}, started with the operation it watches. */
const ghzThroughService = () =>
  ghz({
    address: release.serviceAddress,
    call: 'customer_intelligence.scoring.v1.ScoringService/Score',
    proto: 'proto/customer_intelligence/scoring/v1/scoring.proto',
    data: { model: 'churn', customers: [{ features: SAMPLE_FEATURES }] },
    concurrency: 2,
    connections: 1,
    rps: GHZ_RATE_PER_SECOND,
    duration: GHZ_WINDOW,
    metadata: { 'x-api-key': release.keys.scorer },
    tls: { caFile, serverName: `${release.fullname}.${release.namespace}.svc` },
  });
const describeGhz = (what: string, result: GhzResult) =>
  process.stdout.write(
    `${what}, ghz (no retries) over ${GHZ_WINDOW} at ${GHZ_RATE_PER_SECOND}/s: ${result.count} calls, ` +
      `${result.count - result.ok} failed ${JSON.stringify(result.errors)}, p99 ${result.p99Ms.toFixed(1)} ms\n`,
  );

const scoreInline = () =>
  client.score({
    model: 'churn',
    modelVersion: '',
    customers: [{ customerId: '', features: SAMPLE_FEATURES }],
    reasonCodes: 0,
  });

/** `helm test` of the release (no --logs: the succeeded pods are deleted at once, hook-succeeded). */
const helmTest = () =>
  clusterHelm(['test', release.name, '--namespace', release.namespace, '--timeout', '3m']);

/** The phase of each test pod in `helm test` output, by pod name. */
const testPhases = (output: string): Record<string, string> =>
  Object.fromEntries(
    [...output.matchAll(/TEST SUITE:\s+(\S+)[\s\S]*?Phase:\s+(\w+)/g)].map((m) => [m[1]!, m[2]!]),
  );

const serverPods = async () =>
  (await podsOf(release.namespace, release.selector)).filter((pod) => pod.status.phase !== 'Succeeded');

/** Waits until every server pod is Ready and runs `image`, and nothing else is left terminating. */
async function rolledOutTo(image: string): Promise<PodStatus[]> {
  return waitUntil(
    `every server pod Ready on ${image}`,
    async () => {
      const pods = await podsOf(release.namespace, release.selector);
      const done =
        pods.length >= 2 && pods.every((pod) => isReady(pod) && pod.spec.containers[0]!.image === image);
      return done && pods;
    },
    { timeoutMs: 300_000 },
  );
}

const describeLoad = (what: string, result: SteadyLoadResult, extra = '') =>
  process.stdout.write(
    `${what}: ${result.sent} calls at ${RATE_PER_SECOND}/s over ${result.durationMs} ms, ${result.failed} failed ` +
      `${JSON.stringify(result.failures)}, p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms, ` +
      `max ${result.maxMs.toFixed(1)} ms${extra}\n`,
  );

describe('helm install', () => {
  it('migrates through the hook Job, starts two pods Ready through gRPC probes, and passes helm test', async () => {
    process.stdout.write(`helm install --wait: ${release.installSeconds.toFixed(1)} s\n`);
    // The hook Job is deleted once it succeeded (hook-delete-policy); its events and its work remain.
    const events = await kubectlJson<{
      items: Array<{ reason: string; involvedObject: { kind: string; name: string } }>;
    }>(['get', 'events', '-n', release.namespace]);
    const migrationJob = `${release.fullname}-migrate`;
    expect(
      events.items
        .filter((e) => e.involvedObject.kind === 'Job' && e.involvedObject.name === migrationJob)
        .map((e) => e.reason),
    ).toContain('Completed');
    const database = new pg.Client({ connectionString: release.databaseUrl });
    await database.connect();
    try {
      const { rows } = await database.query<{ name: string }>(
        'SELECT name FROM schema_migrations ORDER BY name',
      );
      const shipped = readdirSync(path.join(REPO_ROOT, 'server/src/db/migrations')).map((file) =>
        file.replace(/\.sql$/, ''),
      );
      expect(rows.map((row) => row.name)).toEqual(shipped.sort());
    } finally {
      await database.end();
    }

    const pods = await serverPods();
    expect(pods).toHaveLength(2);
    for (const pod of pods) expect(isReady(pod)).toBe(true);
    const deployment = await kubectlJson<{
      spec: { template: { spec: { containers: Array<{ readinessProbe: { grpc?: { port: number } } }> } } };
    }>(['get', 'deployment', release.fullname, '-n', release.namespace]);
    expect(deployment.spec.template.spec.containers[0]!.readinessProbe.grpc?.port).toBe(50052);

    const started = performance.now();
    const test = await helmTest();
    process.stdout.write(`helm test: ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    expect(testPhases(test)).toEqual({
      [`${release.fullname}-test-health`]: 'Succeeded',
      [`${release.fullname}-test-score`]: 'Succeeded',
    });
    // The Score test scored each bundled model with its inline features, as the scorer key's principal (its
    // succeeded pod is deleted, log and all: the audit rows are what it leaves behind).
    const audited = await waitUntil('the Score test in prediction_audit', async () => {
      const database = new pg.Client({ connectionString: release.databaseUrl });
      await database.connect();
      try {
        const { rows } = await database.query<{ model: string }>(
          `SELECT DISTINCT model FROM prediction_audit
            WHERE feature_source = 'inline' AND principal LIKE '%cluster-scorer%' ORDER BY model`,
        );
        return rows.length === 2 && rows.map((row) => row.model);
      } finally {
        await database.end();
      }
    });
    expect(audited).toEqual(['churn', 'clv']);
  });

  it('fails helm test when the Score test presents a key the server does not know (UNAUTHENTICATED)', async () => {
    const scorerKey = (key: string) =>
      apply({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'scorer-api-key', namespace: release.namespace },
        type: 'Opaque',
        stringData: { 'api-key': key },
      });
    await scorerKey('not-a-key-of-this-release');
    try {
      const failure = await helmTest().then(
        () => '',
        (error: unknown) => String(error),
      );
      expect(testPhases(failure)).toEqual({
        [`${release.fullname}-test-health`]: 'Succeeded',
        [`${release.fullname}-test-score`]: 'Failed',
      });
      // A failed test pod is kept (hook-delete-policy hook-succeeded), with score-cli's reason in its log.
      const log = await kubectl(['logs', '-n', release.namespace, `${release.fullname}-test-score`]);
      expect(log).toMatch(/ListModels: UNAUTHENTICATED/);
    } finally {
      await scorerKey(release.keys.scorer);
    }
    expect(testPhases(await helmTest())[`${release.fullname}-test-score`]).toBe('Succeeded');
  });

  it('logs JSON lines only, from start-up on', async () => {
    for (const pod of await serverPods()) {
      const logs = (await kubectl(['logs', '-n', release.namespace, pod.metadata.name])).trim().split('\n');
      expect(logs.length).toBeGreaterThan(3);
      const notJson = logs.filter((line) => {
        try {
          return typeof JSON.parse(line) !== 'object';
        } catch {
          return true;
        }
      });
      expect(notJson, pod.metadata.name).toEqual([]);
    }
  });

  it('answers a Score through the ClusterIP Service', async () => {
    const { results } = await scoreInline();
    expect(results[0]?.outcome?.$case).toBe('prediction');
    const prediction = results[0]!.outcome!.value as { score: number; modelVersion: string };
    expect(prediction.score).toBeGreaterThan(0);
    expect(prediction.score).toBeLessThan(1);
    expect(prediction.modelVersion).not.toBe('');
  });
});

/**
 * Runs `operation` under the steady load (and, with `withGhz`, ghz beside it): waits until the load is answered,
 * runs it, lets the load go on for 2 s more, and reports what the load saw.
 */
async function underLoad<T>(
  what: string,
  operation: () => Promise<T>,
  { withGhz = true } = {},
): Promise<{ outcome: T; result: SteadyLoadResult }> {
  const load = startSteadyLoad(scoreInline, RATE_PER_SECOND);
  await waitUntil('the load to be answered', async () => load.answered > 50);
  const started = performance.now();
  const ghzRun = withGhz ? ghzThroughService() : undefined;
  const outcome = await operation();
  const seconds = (performance.now() - started) / 1000;
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const result = await load.stop();
  describeLoad(`${what} under load`, result, `; done in ${seconds.toFixed(1)} s`);
  if (ghzRun) describeGhz(`${what} under load`, await ghzRun);
  return { outcome, result };
}

describe('under steady load through the Service', () => {
  it('loses no call while helm upgrade rolls to a new image tag and a config change', async () => {
    const before = await serverPods();
    const { outcome: pods, result } = await underLoad('helm upgrade', async () => {
      await release.upgrade(['--set', `image.tag=${NEXT_IMAGE_TAG}`, '--set', 'config.logLevel=warn']);
      return rolledOutTo(`customer-intelligence:${NEXT_IMAGE_TAG}`);
    });

    expect(result.failures).toEqual({});
    expect(result.sent).toBeGreaterThan(RATE_PER_SECOND * 5);
    // Every pod was replaced, and the new ones read the changed ConfigMap.
    const names = new Set(before.map((pod) => pod.metadata.name));
    expect(pods.some((pod) => names.has(pod.metadata.name))).toBe(false);
    const env = await kubectl([
      'exec',
      '-n',
      release.namespace,
      pods[0]!.metadata.name,
      '--',
      '/nodejs/bin/node',
      '-p',
      'process.env.LOG_LEVEL',
    ]);
    expect(env.trim()).toBe('warn');
  });

  it('loses no call during helm rollback to the first revision', async () => {
    const { result } = await underLoad('helm rollback', async () => {
      await clusterHelm([
        'rollback',
        release.name,
        '1',
        '--namespace',
        release.namespace,
        '--wait',
        '--timeout',
        '5m',
      ]);
      await rolledOutTo(`customer-intelligence:${IMAGE_TAG}`);
    });

    expect(result.failures).toEqual({});
    expect(result.sent).toBeGreaterThan(RATE_PER_SECOND * 5);
  });

  it('loses no call when a pod is deleted, and the replacement becomes Ready', async () => {
    const [victim] = await serverPods();
    const gone = (pod: PodStatus) => pod.metadata.name !== victim!.metadata.name;
    const { outcome: pods, result } = await underLoad(
      'pod deleted',
      async () => {
        await kubectl(['delete', 'pod', victim!.metadata.name, '-n', release.namespace, '--wait=false']);
        return waitUntil(
          'a Ready replacement, and the deleted pod gone',
          async () => {
            const current = await podsOf(release.namespace, release.selector);
            return current.every(gone) && current.filter(isReady).length >= 2 && current;
          },
          { timeoutMs: 180_000 },
        );
      },
      { withGhz: false },
    );

    expect(result.failures).toEqual({});
    expect(pods.filter(isReady).length).toBeGreaterThanOrEqual(2);
  });
});

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ScoringClient } from '../../client/src/scoring-client.js';
import { kubectlJson, waitUntil } from '../helpers/cluster.js';
import { installRelease, type Release } from '../helpers/release.js';
import { SAMPLE_FEATURES } from '../helpers/sample-features.js';
import { startSteadyLoad } from '../helpers/steady-load.js';

/**
 * The HPA on a real control plane: metrics-server reads the pods' CPU from the kubelet, the controller scales the
 * Deployment above its minimum under sustained load and back once the load stops (the test values shorten the
 * scale-down window from 5 minutes to 20 s).
 */
const RATE_PER_SECOND = 400;
const CLIENTS = 4;

let release: Release;
let clients: ScoringClient[] = [];

beforeAll(async () => {
  release = await installRelease({ name: 'hpa', postgresUrl: inject('postgresUrl') });
  // Several connections, so kube-proxy spreads them over the pods (each one sticks to the pod it reached).
  clients = Array.from({ length: CLIENTS }, () => release.client());
});
afterAll(async () => {
  for (const client of clients) client.close();
  await release?.destroy();
});

interface Hpa {
  spec: { minReplicas: number; maxReplicas: number };
  status: {
    currentReplicas?: number;
    desiredReplicas?: number;
    currentMetrics?: Array<{ containerResource?: { current: { averageUtilization?: number } } }> | null;
  };
}

const hpa = () => kubectlJson<Hpa>(['get', 'hpa', release.fullname, '-n', release.namespace]);
const readyReplicas = async () =>
  (
    await kubectlJson<{ status: { readyReplicas?: number } }>([
      'get',
      'deployment',
      release.fullname,
      '-n',
      release.namespace,
    ])
  ).status.readyReplicas ?? 0;
/** The server container's CPU (the HPA's first metric is a ContainerResource). */
const utilisation = (state: Hpa) =>
  state.status.currentMetrics?.[0]?.containerResource?.current.averageUtilization;

describe('HorizontalPodAutoscaler', () => {
  it('scales the Deployment above its minimum under sustained load, and back when it stops', async () => {
    const initial = await waitUntil(
      'the HPA to read the pods CPU from metrics-server',
      async () => {
        const state = await hpa();
        return utilisation(state) !== undefined && state;
      },
      { timeoutMs: 180_000, intervalMs: 5_000 },
    );
    expect(initial.status.currentReplicas).toBe(initial.spec.minReplicas);

    let next = 0;
    const load = startSteadyLoad(
      () =>
        clients[next++ % CLIENTS]!.score({
          model: 'churn',
          modelVersion: '',
          customers: [{ customerId: '', features: SAMPLE_FEATURES }],
          reasonCodes: 3,
        }),
      RATE_PER_SECOND,
    );
    const started = performance.now();
    let peakUtilisation = 0;
    const scaled = await waitUntil(
      'more ready replicas than the minimum',
      async () => {
        const state = await hpa();
        peakUtilisation = Math.max(peakUtilisation, utilisation(state) ?? 0);
        const ready = await readyReplicas();
        return ready > initial.spec.minReplicas && ready;
      },
      { timeoutMs: 300_000, intervalMs: 2_000 },
    );
    const scaledAfterSeconds = (performance.now() - started) / 1000;
    // An upgrade while scaled keeps the HPA's count (the chart renders the live one), instead of resetting it.
    await release.upgrade();
    const afterUpgrade = (
      await kubectlJson<{ spec: { replicas: number } }>([
        'get',
        'deployment',
        release.fullname,
        '-n',
        release.namespace,
      ])
    ).spec.replicas;
    const result = await load.stop();

    const stopped = performance.now();
    const back = await waitUntil(
      'the minimum again',
      async () => {
        const state = await hpa();
        return (
          state.status.currentReplicas === initial.spec.minReplicas &&
          (await readyReplicas()) === initial.spec.minReplicas &&
          state
        );
      },
      { timeoutMs: 300_000, intervalMs: 2_000 },
    );
    const backAfterSeconds = (performance.now() - stopped) / 1000;
    process.stdout.write(
      `HPA: ${initial.spec.minReplicas} → ${scaled} ready replicas after ${scaledAfterSeconds.toFixed(0)} s of ` +
        `${RATE_PER_SECOND} calls/s (peak average CPU ${peakUtilisation} % of requests, target 70 %); back to ` +
        `${back.status.currentReplicas} ${backAfterSeconds.toFixed(0)} s after the load stopped; a helm upgrade while ` +
        `scaled left spec.replicas at ${afterUpgrade}; load: ${result.sent} ` +
        `calls, ${result.failed} failed ${JSON.stringify(result.failures)}, p99 ${result.p99Ms.toFixed(1)} ms\n`,
    );
    expect(scaled).toBeGreaterThan(initial.spec.minReplicas);
    expect(afterUpgrade).toBeGreaterThan(initial.spec.minReplicas);
    expect(result.failures).toEqual({});
  });
});

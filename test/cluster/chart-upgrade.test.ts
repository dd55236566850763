import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { clusterHelm, isReady, kubectlJson, podsOf, waitUntil } from '../helpers/cluster.js';
import { REPO_ROOT } from '../helpers/helm.js';
import { installRelease, type Release } from '../helpers/release.js';
import { SAMPLE_FEATURES } from '../helpers/sample-features.js';

/**
 * `helm upgrade` from the chart of the previous release to this one: the chart as it was before the last commit
 * that changed helm/ (so it differs from this one whenever that commit changed it), installed with the same
 * values — less those its values.yaml has no key for yet, which its schema would refuse and which a user adds
 * with the upgrade — then upgraded in place. Selectors and other immutable fields must not change, or the API
 * server refuses the upgrade.
 */
const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();

let previous: { commit: string; dir: string };
let release: Release;

beforeAll(async () => {
  const lastChartChange = git('log', '-n', '1', '--format=%H', '--', 'helm/');
  let commit: string;
  try {
    commit = git('rev-parse', '--verify', `${lastChartChange}~1`);
  } catch (error) {
    throw new Error(
      `the commit before ${lastChartChange} (the last one that changed helm/) is not in this clone: a shallow ` +
        'clone? Fetch more history (git fetch --deepen=50).',
      { cause: error },
    );
  }
  // Charts before the files/ move read the top-level alerts/ and dashboards/ through symlinks: those folders
  // come along where that commit has them.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ci-previous-chart-'));
  const linked = `$(git ls-tree --name-only ${commit} alerts dashboards)`;
  execFileSync('sh', ['-c', `git archive ${commit} helm ${linked} | tar -x -C ${dir}`], {
    cwd: REPO_ROOT,
  });
  previous = { commit, dir };
  const chartDir = path.join(dir, 'helm/customer-intelligence');
  const defaults = parse(readFileSync(path.join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
  release = await installRelease({
    name: 'upgrade',
    postgresUrl: inject('postgresUrl'),
    chartDir,
    installValues: (values) => knownTo(defaults, values),
  });
});
/**
 * `values` without the keys `defaults` (a chart's values.yaml) does not have; under a default that is an empty
 * map (annotations, labels) or not a map, everything is kept.
 */
function knownTo(
  defaults: Record<string, unknown>,
  values: Record<string, unknown>,
): Record<string, unknown> {
  const isMap = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);
  return Object.fromEntries(
    Object.entries(values)
      .filter(([key]) => key in defaults)
      .map(([key, value]) => {
        const known = defaults[key];
        return [
          key,
          isMap(known) && isMap(value) && Object.keys(known).length > 0 ? knownTo(known, value) : value,
        ];
      }),
  );
}

afterAll(async () => {
  await release?.destroy();
  if (previous) rmSync(previous.dir, { recursive: true, force: true });
});

interface Selected {
  metadata: { name: string };
  spec: { selector?: { matchLabels?: Record<string, string> } | Record<string, string> };
}

async function selectors(): Promise<Record<string, unknown>> {
  const kinds = ['deployment', 'service', 'poddisruptionbudget'];
  const found: Record<string, unknown> = {};
  for (const kind of kinds) {
    const { items } = await kubectlJson<{ items: Selected[] }>([
      'get',
      kind,
      '-n',
      release.namespace,
      '-l',
      `app.kubernetes.io/instance=${release.name}`,
    ]);
    for (const item of items) found[`${kind}/${item.metadata.name}`] = item.spec.selector;
  }
  return found;
}

describe('helm upgrade from the previous chart', () => {
  it('upgrades in place with the same values: selectors unchanged, pods serving', async () => {
    const before = await selectors();
    const started = performance.now();
    await release.upgrade();
    const seconds = (performance.now() - started) / 1000;
    const after = await selectors();
    const history = await clusterHelm([
      'history',
      release.name,
      '--namespace',
      release.namespace,
      '--output',
      'json',
    ]);
    const revisions = (JSON.parse(history) as Array<{ revision: number; status: string }>).map((r) => [
      r.revision,
      r.status,
    ]);
    process.stdout.write(
      `chart upgrade: from the chart of ${previous.commit.slice(0, 12)} to this one in ${seconds.toFixed(1)} s; ` +
        `history ${JSON.stringify(revisions)}; ${Object.keys(after).length} selectors compared\n`,
    );
    expect(after).toEqual(before);
    expect(revisions).toEqual([
      [1, 'superseded'],
      [2, 'deployed'],
    ]);
    await waitUntil(
      'two Ready server pods',
      async () => (await podsOf(release.namespace, release.selector)).filter(isReady).length >= 2,
    );
    const client = release.client();
    try {
      const { results } = await client.score({
        model: 'clv',
        modelVersion: '',
        customers: [{ customerId: '', features: SAMPLE_FEATURES }],
        reasonCodes: 0,
      });
      expect(results[0]?.outcome?.$case).toBe('prediction');
    } finally {
      client.close();
    }
  });
});

import { execFile } from 'node:child_process';
import { cp, lstat, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ALERTS_DIR, DASHBOARDS_DIR, dashboards, ruleFiles, rules } from '../helpers/observability-files.js';
import { CHART_DIR, NAMESPACE, helm, render, renderCiCasesOnce } from '../helpers/helm.js';
import { ofKind, only, serverContainer, type Labels } from '../helpers/manifests.js';

// Alerts and dashboards: the PrometheusRule and the dashboard ConfigMaps made from the very files in the chart's
// files/alerts and files/dashboards, which the chart holds itself (no links), packaged or not. How the rules are
// scoped to the release and overridden: observability-release-scope.test.ts.
const manifestsOf = renderCiCasesOnce();

interface RuleGroups {
  groups: Array<{ name: string; rules: Array<{ alert?: string; record?: string }> }>;
}

describe('PrometheusRule', () => {
  it("has one object per rule file, with the file's groups and rules in its order", async () => {
    const objects = ofKind(manifestsOf('production'), 'PrometheusRule');
    expect(objects).toHaveLength(ruleFiles().length);
    for (const file of ruleFiles()) {
      const source = parse(await readFile(file, 'utf8')) as RuleGroups;
      const name = `ci-customer-intelligence-${path.basename(file, '.rules.yaml')}`;
      const object = objects.find((o) => o.metadata.name === name)!;
      expect(object.apiVersion).toBe('monitoring.coreos.com/v1');
      const names = (groups: RuleGroups): string[][] =>
        groups.groups.map((g) => [g.name, ...g.rules.map((r) => r.alert ?? r.record ?? '')]);
      expect(names(object.spec as RuleGroups)).toEqual(names(source));
    }
  });

  it("keeps Prometheus' alert templates ({{ $labels.pod }}, {{ $value }}) for Prometheus to expand", () => {
    const object = only(manifestsOf('production'), 'PrometheusRule');
    const annotations = (
      object.spec as { groups: Array<{ rules: Array<{ annotations?: Labels }> }> }
    ).groups.flatMap((g) => g.rules.map((r) => r.annotations ?? {}));
    expect(annotations.map((a) => a.summary)).toContain(
      'Feature-store circuit breaker open on {{ $labels.pod }}',
    );
    expect(annotations.map((a) => a.description).join('\n')).toContain('{{ $value | humanizePercentage }}');
  });

  it('carries the extra labels and is off by default', () => {
    const object = only(manifestsOf('production'), 'PrometheusRule');
    expect(object.metadata.labels).toMatchObject({
      release: 'kps',
      'app.kubernetes.io/name': 'customer-intelligence',
    });
    expect(object.metadata.namespace).toBe(NAMESPACE);
    expect(manifestsOf('minimal').map((m) => m.kind)).not.toContain('PrometheusRule');
  });

  it("an extra label cannot override the chart's own labels", async () => {
    const object = only(
      await render({
        set: {
          'prometheusRule.enabled': 'true',
          'prometheusRule.labels.app\\.kubernetes\\.io/instance': 'x',
        },
      }),
      'PrometheusRule',
    );
    expect(object.metadata.labels?.['app.kubernetes.io/instance']).toBe('ci');
  });

  it('matches the server container name in the restart alert (kube-state-metrics reports it)', () => {
    const restartRules = rules().filter((r) => r.expr.includes('kube_pod_container_status_restarts_total'));
    expect(restartRules.length).toBeGreaterThan(0);
    const name = serverContainer(manifestsOf('minimal')).name;
    for (const rule of restartRules) expect(rule.expr).toContain(`container="${name}"`);
  });
});

describe('Grafana dashboards', () => {
  it('has one ConfigMap per dashboard holding the JSON file byte for byte, legends untouched', async () => {
    const configMaps = ofKind(manifestsOf('production'), 'ConfigMap').filter(
      (m) => m.metadata.labels?.grafana_dashboard !== undefined,
    );
    expect(configMaps).toHaveLength(dashboards().length);
    for (const { file } of dashboards()) {
      const bytes = await readFile(path.join(DASHBOARDS_DIR, file));
      const configMap = configMaps.find((m) => m.data?.[file] !== undefined)!;
      expect(Object.keys(configMap.data!)).toEqual([file]);
      expect(Buffer.from(configMap.data![file]!, 'utf8').equals(bytes)).toBe(true);
      expect(configMap.data![file]).toContain('"legendFormat": "{{pod}}"');
    }
  });

  it('are labelled for the sidecar, with the extra labels, annotations and namespace of the values', () => {
    const configMap = ofKind(manifestsOf('production'), 'ConfigMap').find(
      (m) => m.metadata.labels?.grafana_dashboard !== undefined,
    )!;
    expect(configMap.metadata.labels).toMatchObject({
      grafana_dashboard: '1',
      'example.com/team': 'ml-platform',
      'app.kubernetes.io/component': 'dashboards',
    });
    expect(configMap.metadata.annotations).toEqual({ grafana_folder: 'Machine Learning' });
    expect(configMap.metadata.namespace).toBe('monitoring');
  });

  it('take the sidecar label key and value from the values', async () => {
    const configMap = only(
      await render({
        set: {
          'dashboards.enabled': 'true',
          'dashboards.label': 'grafana_dash',
          'dashboards.labelValue': 'ml',
        },
      }),
      'ConfigMap',
      'dashboards',
    );
    expect(configMap.metadata.labels?.grafana_dash).toBe('ml');
    expect(configMap.metadata.labels).not.toHaveProperty('grafana_dashboard');
    expect(configMap.metadata.namespace).toBe(NAMESPACE);
  });

  it('are off by default', () => {
    expect(ofKind(manifestsOf('minimal'), 'ConfigMap')).toHaveLength(1);
  });
});

describe('the chart holds the rule files and dashboards itself', () => {
  let workDir: string | undefined;
  afterAll(async () => {
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it.each([
    ['files/alerts', ALERTS_DIR],
    ['files/dashboards', DASHBOARDS_DIR],
  ])(
    '%s is the tested folder, not a symlink (Helm warns on every command about a link)',
    async (folder, tested) => {
      const file = path.join(CHART_DIR, folder);
      expect((await lstat(file)).isDirectory()).toBe(true);
      expect(path.resolve(file)).toBe(path.resolve(tested));
    },
  );

  it('helm renders the chart without a symlink warning', async () => {
    const { stderr } = await helm([
      'lint',
      CHART_DIR,
      '--values',
      path.join(CHART_DIR, 'ci/production-values.yaml'),
      '--kube-version',
      '1.34.0',
    ]);
    expect(stderr).not.toMatch(/symbolic link/);
  });

  it.each([
    ['prometheusRule.enabled', /no files\/alerts\/\*\.rules\.yaml/],
    ['dashboards.enabled', /no files\/dashboards\/\*\.json/],
  ])('a chart copied without its files/ refuses %s instead of rendering nothing', async (value, message) => {
    workDir ??= await mkdtemp(path.join(os.tmpdir(), 'chart-package-'));
    const copy = path.join(workDir, 'without-links');
    await cp(CHART_DIR, copy, { recursive: true, filter: (source) => !source.includes(`${path.sep}files`) });
    await expect(render({ chartDir: copy, set: { [value]: 'true' } })).rejects.toThrow(message);
  });

  it('the packaged chart holds the files themselves (not the promtool tests) and renders the same objects', async () => {
    workDir ??= await mkdtemp(path.join(os.tmpdir(), 'chart-package-'));
    const { stdout: packaged } = await helm(['package', CHART_DIR, '--destination', workDir]);
    const archive = /saved it to: (\S+\.tgz)/.exec(packaged)![1]!;
    const { stdout } = await promisify(execFile)('tar', ['-tzf', archive]);
    const entries = stdout.split('\n').filter((entry) => entry.includes('/files/'));
    expect(entries.sort()).toEqual(
      [
        ...ruleFiles().map((file) => `customer-intelligence/files/alerts/${path.basename(file)}`),
        ...dashboards().map(({ file }) => `customer-intelligence/files/dashboards/${file}`),
      ].sort(),
    );

    const fromPackage = await render({ ciCase: 'production', chartDir: archive });
    for (const kind of ['PrometheusRule', 'ConfigMap'])
      expect(ofKind(fromPackage, kind)).toEqual(ofKind(manifestsOf('production'), kind));
  });
});

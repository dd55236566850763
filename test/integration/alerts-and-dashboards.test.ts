import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ALERTS_DIR,
  dashboardExpressions,
  dashboards,
  metricSelectors,
} from '../helpers/observability-files.js';
import {
  renderRuleFiles,
  renderedRules,
  writeRuleFiles,
  type RenderedRuleFile,
} from '../helpers/rendered-rules.js';
import { toolPath } from '../helpers/tools.js';

const run = promisify(execFile);

// promtool on the rules as the chart renders them for release "ci" in namespace "ml" with the values beside the
// promtool tests (files/alerts/tests/values.yaml): the tests' input series carry that release's labels and
// another release's, which must not fire or mix.
const TEST_VALUES = path.join(ALERTS_DIR, 'tests/values.yaml');
const RUNBOOK_BASE_URL = 'https://git.example.com/ml/customer-intelligence/-/blob/main/README.md';

let dir: string;
let ruleFiles: RenderedRuleFile[];
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-alert-rules-'));
  ruleFiles = await renderRuleFiles({ valuesFiles: [TEST_VALUES] });
  await writeRuleFiles(path.join(dir, 'rendered'), ruleFiles);
  await cp(path.join(ALERTS_DIR, 'tests'), path.join(dir, 'tests'), { recursive: true });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `promtool test rules` on `testFile` in `dir`/tests; resolves to its output. */
async function promtoolTest(testFile: string): Promise<string> {
  const result = await run(toolPath('promtool'), ['test', 'rules', testFile], {
    cwd: path.join(dir, 'tests'),
  }).catch((error: { stdout?: string; stderr?: string }) => ({
    stdout: error.stdout ?? '',
    stderr: error.stderr ?? '',
  }));
  return result.stdout + result.stderr;
}

describe('alert rules, rendered for one release', () => {
  it('pass promtool check rules', async () => {
    const files = ruleFiles.map((file) => path.join(dir, 'rendered', `${file.name}.rules.yaml`));
    const { stdout } = await run(toolPath('promtool'), ['check', 'rules', ...files]);
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it("pass their promtool unit tests: each alert fires when it should, for its release's series only", async () => {
    expect(await promtoolTest('customer-intelligence.test.yaml')).toMatch(/SUCCESS/);
  });

  it('every alert has a severity, a summary, a description and an absolute runbook_url into the README', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const alerts = renderedRules(ruleFiles).filter((rule) => rule.alert !== undefined);
    expect(alerts.length).toBeGreaterThanOrEqual(8);
    for (const alert of alerts) {
      const name = alert.alert!;
      expect(alert.labels?.severity, name).toMatch(/^(critical|warning)$/);
      expect(alert.annotations?.summary, name).toBeTruthy();
      expect(alert.annotations?.description, name).toBeTruthy();
      const anchor = `runbook-${name.toLowerCase()}`;
      expect(alert.annotations?.runbook_url, name).toBe(`${RUNBOOK_BASE_URL}#${anchor}`);
      expect(readme, `README section for ${name}`).toContain(`<a id="${anchor}"></a>`);
    }
  });

  it('a threshold override changes when the alert fires (p99 175 ms: above 50 ms, not above 200 ms)', async () => {
    const overridden = await renderRuleFiles(
      { valuesFiles: [TEST_VALUES] },
      { 'prometheusRule.alerts': { CustomerIntelligenceLatencyHigh: { threshold: 0.2 } } },
    );
    await writeRuleFiles(path.join(dir, 'overridden'), overridden);
    const selector =
      'namespace="ml",job="ci-customer-intelligence-metrics",' +
      'grpc_service="customer_intelligence.scoring.v1.ScoringService",grpc_method="Score"';
    const buckets = { '0.001': '0+90x30', '0.1': '0+98x30', '0.25': '0+100x30', '+Inf': '0+100x30' };
    await writeFile(
      path.join(dir, 'tests', 'threshold.test.yaml'),
      stringify({
        rule_files: ['../overridden/customer-intelligence.rules.yaml'],
        evaluation_interval: '1m',
        tests: [
          {
            interval: '1m',
            input_series: Object.entries(buckets).map(([le, values]) => ({
              series: `grpc_server_handling_seconds_bucket{${selector},le="${le}"}`,
              values,
            })),
            alert_rule_test: [
              { eval_time: '20m', alertname: 'CustomerIntelligenceLatencyHigh', exp_alerts: [] },
            ],
          },
        ],
      }),
    );
    expect(await promtoolTest('threshold.test.yaml')).toMatch(/SUCCESS/);
    // The same series fire the default 50 ms alert (customer-intelligence.test.yaml, "Score p99 above 50 ms").
  });
});

describe('dashboards', () => {
  it('use the ${datasource} variable everywhere and a current schema', () => {
    for (const dashboard of dashboards()) {
      expect(dashboard.uid, dashboard.file).toMatch(/^[a-z0-9-]+$/);
      expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
      expect(dashboard.templating.list.find((v) => v.name === 'datasource')?.type).toBe('datasource');
      const ids = dashboard.panels.map((panel) => panel.id);
      expect(new Set(ids).size, 'panel ids are unique').toBe(ids.length);
      for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
        expect(panel.datasource?.uid, panel.title).toBe('${datasource}');
        for (const target of panel.targets ?? [])
          expect(target.datasource?.uid, panel.title).toBe('${datasource}');
      }
    }
  });

  it('have cluster, namespace and job variables (All = any, also no cluster label), each narrowing the next', () => {
    for (const dashboard of dashboards()) {
      const variables = dashboard.templating.list;
      expect(variables.map((v) => v.name)).toEqual(['datasource', 'cluster', 'namespace', 'job']);
      for (const variable of variables.slice(1)) {
        expect(variable, variable.name).toMatchObject({ type: 'query', includeAll: true, allValue: '.*' });
      }
      const query = (name: string): string => variables.find((v) => v.name === name)!.query!.query;
      expect(query('cluster')).toBe('label_values(grpc_server_started_total, cluster)');
      expect(query('namespace')).toBe(
        'label_values(grpc_server_started_total{cluster=~"$cluster"}, namespace)',
      );
      expect(query('job')).toBe(
        'label_values(grpc_server_started_total{cluster=~"$cluster",namespace=~"$namespace"}, job)',
      );
    }
  });

  it('select the chosen cluster, namespace and job in every series of every query', () => {
    for (const dashboard of dashboards()) {
      for (const panel of dashboard.panels) {
        for (const target of panel.targets ?? []) {
          const selectors = metricSelectors(target.expr);
          expect(selectors.length, panel.title).toBeGreaterThan(0);
          for (const selector of selectors)
            expect(selector, panel.title).toContain(
              'cluster=~"$cluster",namespace=~"$namespace",job=~"$job"',
            );
        }
      }
    }
  });

  it('hold only valid PromQL (checked by promtool as recording rules)', async () => {
    const file = path.join(dir, 'dashboard.rules.yaml');
    const expressions = dashboardExpressions();
    expect(expressions.length).toBeGreaterThan(15);
    await writeFile(
      file,
      stringify({
        groups: [
          {
            name: 'dashboard',
            rules: expressions.map((expr, i) => ({ record: `dashboard:expr${i}`, expr })),
          },
        ],
      }),
    );
    const { stdout } = await run(toolPath('promtool'), ['check', 'rules', file]);
    expect(stdout).toContain(`SUCCESS: ${expressions.length} rules found`);
  });
});

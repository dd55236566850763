import { beforeAll, describe, expect, it } from 'vitest';
import { helmFailure, render, templateArgs } from '../helpers/helm.js';
import { only } from '../helpers/manifests.js';
import { metricSelectors, rules } from '../helpers/observability-files.js';
import { renderRuleFiles, renderedRules, type RenderedRule } from '../helpers/rendered-rules.js';

// The alert rules as the chart renders them for one release: every series selector picks the release's
// namespace and job (the pods' namespace, wherever the PrometheusRule lives), and prometheusRule.* disables
// alerts, changes thresholds, `for` and labels, and sets an absolute runbook_url. promtool runs the rendered
// rules on series of two releases in test/integration/alerts-and-dashboards.test.ts.

const RELEASE_SERIES = 'namespace="ml",job="ci-customer-intelligence-metrics"';

/** The rendered rules of the default values, with `json` as --set-json. */
async function rulesWith(json: Readonly<Record<string, unknown>> = {}): Promise<RenderedRule[]> {
  return renderedRules(await renderRuleFiles({}, json));
}

function alertNamed(list: readonly RenderedRule[], name: string): RenderedRule {
  const rule = list.find((r) => r.alert === name);
  if (rule === undefined) throw new Error(`no alert ${name}`);
  return rule;
}

let defaults: RenderedRule[];
beforeAll(async () => {
  defaults = await rulesWith();
});

describe('rules scoped to the release', () => {
  it('every series selector of the server names the release namespace and job, leaving no placeholder', () => {
    for (const rule of defaults) {
      const name = rule.alert ?? rule.record!;
      expect(rule.expr, name).not.toContain('$');
      for (const selector of metricSelectors(rule.expr).filter((s) => !s.startsWith('kube_')))
        expect(selector, name).toContain(`{${RELEASE_SERIES}`);
    }
  });

  it('aggregations keep namespace and job, so two releases never share a series or an alert', () => {
    for (const rule of defaults.filter((r) => !r.expr.includes('kube_'))) {
      const groupings = rule.expr.match(/\bby \(([^)]*)\)/g) ?? [];
      for (const grouping of groupings)
        expect(grouping, rule.alert ?? rule.record).toMatch(/^by \(namespace, job\b/);
    }
    expect(alertNamed(defaults, 'CustomerIntelligenceBatchScoringStale').expr).toContain(
      'max by (namespace, job, model)',
    );
  });

  it("the restart alert matches this release's server pods in its namespace, not another release's", async () => {
    const expr = alertNamed(defaults, 'CustomerIntelligencePodRestarting').expr;
    expect(expr).toContain('namespace="ml"');
    const pattern = new RegExp(`^(?:${/pod=~"([^"]+)"/.exec(expr)![1]!})$`);
    const deployment = only(await render(), 'Deployment');
    expect(pattern.test(`${deployment.metadata.name}-7d9f8b6c5d-x2k4q`)).toBe(true);
    for (const pod of [
      'fraud-customer-intelligence-7d9f8b6c5d-x2k4q',
      'ci-customer-intelligence-batch-score-29012345-r4t6y',
      'ci-customer-intelligence-migrate-x2k4q',
    ])
      expect(pattern.test(pod), pod).toBe(false);
  });

  it('reads the release namespace and release name wherever the PrometheusRule lives', async () => {
    const files = await renderRuleFiles({
      release: 'fraud',
      namespace: 'risk',
      set: { 'prometheusRule.namespace': 'monitoring' },
    });
    const list = renderedRules(files);
    expect(alertNamed(list, 'CustomerIntelligenceModelNotReady').expr).toContain(
      '{namespace="risk",job="fraud-customer-intelligence-metrics"}',
    );
    expect(alertNamed(list, 'CustomerIntelligencePodRestarting').expr).toContain(
      'namespace="risk",pod=~"fraud-customer-intelligence-',
    );
  });

  it("prometheusRule.job replaces the job the chart's monitors give", async () => {
    const list = await rulesWith({ 'prometheusRule.job': 'kubernetes-pods' });
    expect(alertNamed(list, 'CustomerIntelligenceModelNotReady').expr).toContain(
      '{namespace="ml",job="kubernetes-pods"}',
    );
  });
});

describe('per-alert overrides', () => {
  it('a disabled alert is left out, every other rule stays', async () => {
    const list = await rulesWith({
      'prometheusRule.alerts': { CustomerIntelligenceFeatureDrift: { enabled: false } },
    });
    const names = (l: RenderedRule[]): string[] => l.map((r) => r.alert ?? r.record!);
    expect(names(list)).not.toContain('CustomerIntelligenceFeatureDrift');
    expect(names(list)).toEqual(names(defaults).filter((n) => n !== 'CustomerIntelligenceFeatureDrift'));
    // enabled: true changes nothing.
    const enabled = await rulesWith({
      'prometheusRule.alerts': { CustomerIntelligenceFeatureDrift: { enabled: true } },
    });
    expect(enabled).toEqual(defaults);
  });

  it("a threshold override changes the expression and the summary's number, nothing else", async () => {
    const list = await rulesWith({
      'prometheusRule.alerts': {
        CustomerIntelligenceLatencyHigh: { threshold: 0.25 },
        CustomerIntelligenceErrorBudgetBurnFast: { threshold: 0.005 },
      },
    });
    const latency = alertNamed(list, 'CustomerIntelligenceLatencyHigh');
    expect(alertNamed(defaults, 'CustomerIntelligenceLatencyHigh').expr).toMatch(/\) > 0\.05$/);
    expect(latency.expr).toMatch(/\) > 0\.25$/);
    expect(latency.annotations?.summary).toContain('above {{ 0.25 | humanizeDuration }}');
    const burn = alertNamed(list, 'CustomerIntelligenceErrorBudgetBurnFast').expr;
    expect(burn).toContain('> (14.4 * 0.005)');
    expect(burn).toContain('> (6 * 0.005)');
    expect(burn).not.toContain('0.001');
    expect(alertNamed(list, 'CustomerIntelligenceFeatureDrift')).toEqual(
      alertNamed(defaults, 'CustomerIntelligenceFeatureDrift'),
    );
  });

  it('for and labels per alert; alertLabels on every alert; the per-alert ones win', async () => {
    const list = await rulesWith({
      'prometheusRule.alertLabels': { team: 'ml-platform', severity: 'page' },
      'prometheusRule.alerts': {
        CustomerIntelligenceLatencyHigh: { for: '30m', labels: { severity: 'critical', team: 'scoring' } },
      },
    });
    const latency = alertNamed(list, 'CustomerIntelligenceLatencyHigh');
    expect(latency.for).toBe('30m');
    expect(latency.labels).toEqual({ severity: 'critical', team: 'scoring' });
    expect(alertNamed(list, 'CustomerIntelligenceModelNotReady').labels).toEqual({
      severity: 'page',
      team: 'ml-platform',
    });
    for (const rule of list.filter((r) => r.record !== undefined)) expect(rule).not.toHaveProperty('labels');
  });

  it.each([
    [
      'an alert the chart does not have',
      { CustomerIntelligenceTypo: { enabled: false } },
      "prometheusRule.alerts.CustomerIntelligenceTypo: no such alert; the chart's alerts are CustomerIntelligenceErrorBudgetBurnFast, ",
    ],
    [
      'a threshold for an alert that compares a state',
      { CustomerIntelligenceModelNotReady: { threshold: 1 } },
      'prometheusRule.alerts.CustomerIntelligenceModelNotReady.threshold: CustomerIntelligenceModelNotReady compares a state',
    ],
  ])('refuses %s, naming the value', async (_name, alerts, message) => {
    const stderr = await helmFailure([
      ...templateArgs({ set: { 'prometheusRule.enabled': 'true' } }),
      '--set-json',
      `prometheusRule.alerts=${JSON.stringify(alerts)}`,
    ]);
    expect(stderr).toContain(message);
  });

  it.each([
    [
      'a threshold that is not a number',
      { threshold: '0.1' },
      "'/prometheusRule/alerts/CustomerIntelligenceLatencyHigh/threshold': got string, want number",
    ],
    [
      'a misspelt override field',
      { treshold: 0.1 },
      "'/prometheusRule/alerts/CustomerIntelligenceLatencyHigh': additional properties 'treshold' not allowed",
    ],
    [
      'a `for` that is not a duration',
      { for: '10 minutes' },
      "'/prometheusRule/alerts/CustomerIntelligenceLatencyHigh/for': '10 minutes' does not match pattern",
    ],
    // helm prints a wrong path for a propertyNames failure, hence only the name.
    ['a label name Prometheus refuses', { labels: { 'team-name': 'x' } }, "invalid propertyName 'team-name'"],
  ])('the schema refuses %s', async (_name, override, message) => {
    const stderr = await helmFailure([
      ...templateArgs({ set: { 'prometheusRule.enabled': 'true' } }),
      '--set-json',
      `prometheusRule.alerts=${JSON.stringify({ CustomerIntelligenceLatencyHigh: override })}`,
    ]);
    expect(stderr).toContain(message);
  });
});

describe('runbook_url', () => {
  it('is left out by default (no public address to point at)', () => {
    for (const rule of defaults.filter((r) => r.alert !== undefined))
      expect(rule.annotations, rule.alert).not.toHaveProperty('runbook_url');
  });

  it("is prometheusRule.runbookBaseUrl + the README's runbook anchor of the alert", async () => {
    const base = 'https://git.example.com/ml/customer-intelligence/-/blob/v0.1.0/README.md';
    const list = await rulesWith({ 'prometheusRule.runbookBaseUrl': base });
    const alerts = list.filter((r) => r.alert !== undefined);
    expect(alerts).toHaveLength(rules().filter((r) => r.alert !== undefined).length);
    for (const rule of alerts)
      expect(rule.annotations?.runbook_url).toBe(`${base}#runbook-${rule.alert!.toLowerCase()}`);
  });

  it.each(['README.md', 'git.example.com/README.md', 'https://git.example.com/README.md#runbook'])(
    'the schema refuses a base URL that is not absolute or has a fragment: %s',
    async (url) => {
      const stderr = await helmFailure(
        templateArgs({ set: { 'prometheusRule.enabled': 'true', 'prometheusRule.runbookBaseUrl': url } }),
      );
      expect(stderr).toContain('/prometheusRule/runbookBaseUrl');
    },
  );
});

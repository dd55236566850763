import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ALERTS_DIR = `${ROOT}helm/customer-intelligence/files/alerts`;
export const DASHBOARDS_DIR = `${ROOT}helm/customer-intelligence/files/dashboards`;

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { uid?: string };
  targets?: Array<{ expr: string; datasource?: { uid?: string } }>;
}

/** A dashboard JSON file, parsed. */
export interface Dashboard {
  file: string;
  uid: string;
  schemaVersion: number;
  templating: {
    list: Array<{
      name: string;
      type: string;
      query?: { query: string };
      includeAll?: boolean;
      allValue?: string;
    }>;
  };
  panels: Panel[];
}

export function dashboards(): Dashboard[] {
  return readdirSync(DASHBOARDS_DIR)
    .filter((file) => file.endsWith('.json'))
    .map((file) => ({
      file,
      ...(JSON.parse(readFileSync(`${DASHBOARDS_DIR}/${file}`, 'utf8')) as Omit<Dashboard, 'file'>),
    }));
}

/** Every PromQL expression of every dashboard panel, with Grafana's variables replaced by plain values. */
export function dashboardExpressions(): string[] {
  return dashboards().flatMap((dashboard) =>
    dashboard.panels.flatMap((panel) =>
      (panel.targets ?? []).map((target) =>
        target.expr
          .replaceAll('$__rate_interval', '5m')
          .replaceAll('$cluster', '.*')
          .replaceAll('$namespace', '.*')
          .replaceAll('$job', '.*'),
      ),
    ),
  );
}

/** The series selectors (`metric{...}`) of an expression, as written. */
export function metricSelectors(expression: string): string[] {
  return expression.match(/[a-z_][a-z0-9_:]*\{[^}]*\}/g) ?? [];
}

/**
 * A rule file of files/alerts: a template of the rules the chart renders (templates/prometheusrule.yaml fills
 * in $selector, $podSelector and $threshold), parsed as it is.
 */
interface RuleFile {
  groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }>;
}

export function ruleFiles(): string[] {
  return readdirSync(ALERTS_DIR)
    .filter((file) => file.endsWith('.rules.yaml'))
    .map((file) => `${ALERTS_DIR}/${file}`);
}

/** Every rule (alert or recording) of every rule file, unrendered (see test/helpers/rendered-rules.ts). */
export function rules(): Array<{ alert?: string; record?: string; expr: string }> {
  return ruleFiles().flatMap((file) =>
    (parse(readFileSync(file, 'utf8')) as RuleFile).groups.flatMap((group) => group.rules),
  );
}

/**
 * Metric names an expression reads: identifiers of our namespaces (`ci_`, `grpc_server_`, `process_`,
 * `nodejs_`) and Kubernetes ones (`kube_`), minus recording-rule names (`ci:...` contain colons).
 */
export function metricNames(expression: string): string[] {
  return [
    ...new Set(
      expression.match(/(?<![\w:])(?:ci|grpc_server|process|nodejs|kube)_[a-z0-9_]+(?![\w:])/g) ?? [],
    ),
  ];
}

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { render, renderWithJson, type RenderOptions } from './helm.js';
import { ofKind } from './manifests.js';

// The alert rules as Prometheus gets them: the chart's PrometheusRules, rendered for one release, whose specs
// are the rule files promtool checks and tests (files/alerts/*.rules.yaml are templates of them).

/** A rule of a rendered PrometheusRule. */
export interface RenderedRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A rendered PrometheusRule's spec, by the rule file it came from (`customer-intelligence`). */
export interface RenderedRuleFile {
  name: string;
  spec: { groups: Array<{ name: string; rules: RenderedRule[] }> };
}

/**
 * Renders the chart with `prometheusRule.enabled` (plus `json` as `--set-json`) and returns each
 * PrometheusRule's spec, named after its rule file (the object's name less `<release>-customer-intelligence-`).
 */
export async function renderRuleFiles(
  options: RenderOptions = {},
  json: Readonly<Record<string, unknown>> = {},
): Promise<RenderedRuleFile[]> {
  const withRules = { ...options, set: { 'prometheusRule.enabled': 'true', ...options.set } };
  const manifests =
    Object.keys(json).length > 0 ? await renderWithJson(json, withRules) : await render(withRules);
  const prefix = `${options.release ?? 'ci'}-customer-intelligence-`;
  return ofKind(manifests, 'PrometheusRule').map((object) => ({
    name: object.metadata.name.slice(prefix.length),
    spec: object.spec as RenderedRuleFile['spec'],
  }));
}

/** Every rule of rendered rule files. */
export function renderedRules(files: readonly RenderedRuleFile[]): RenderedRule[] {
  return files.flatMap((file) => file.spec.groups.flatMap((group) => group.rules));
}

/** Writes each rendered spec to `<dir>/<name>.rules.yaml`; returns the paths. */
export async function writeRuleFiles(dir: string, files: readonly RenderedRuleFile[]): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  return Promise.all(
    files.map(async (file) => {
      const target = path.join(dir, `${file.name}.rules.yaml`);
      await writeFile(target, stringify(file.spec));
      return target;
    }),
  );
}

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  ALERTS_DIR,
  dashboardExpressions,
  dashboards,
  ruleFiles,
  rules,
} from '../helpers/observability-files.js';
import { toolPath } from '../helpers/tools.js';

const run = promisify(execFile);

describe('alert rules', () => {
  it('pass promtool check rules', async () => {
    const { stdout } = await run(toolPath('promtool'), ['check', 'rules', ...ruleFiles()]);
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('pass their promtool unit tests (each alert fires when it should and only then)', async () => {
    const { stdout, stderr } = await run(
      toolPath('promtool'),
      ['test', 'rules', 'tests/customer-intelligence.test.yaml'],
      {
        cwd: ALERTS_DIR,
      },
    );
    expect(stdout + stderr).toMatch(/SUCCESS/);
  });

  it('every alert has a severity, a summary, a description and a runbook section in the README', async () => {
    const { readFile } = await import('node:fs/promises');
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const alerts = rules().filter((rule) => rule.alert !== undefined) as Array<{
      alert: string;
      labels?: { severity?: string };
      annotations?: Record<string, string>;
    }>;
    expect(alerts.length).toBeGreaterThanOrEqual(8);
    for (const alert of alerts) {
      expect(alert.labels?.severity, alert.alert).toMatch(/^(critical|warning)$/);
      expect(alert.annotations?.summary, alert.alert).toBeTruthy();
      expect(alert.annotations?.description, alert.alert).toBeTruthy();
      const anchor = `runbook-${alert.alert.toLowerCase()}`;
      expect(alert.annotations?.runbook_url, alert.alert).toBe(`README.md#${anchor}`);
      expect(readme, `README section for ${alert.alert}`).toContain(`<a id="${anchor}"></a>`);
    }
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

  it('hold only valid PromQL (checked by promtool as recording rules)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ci-dashboard-promql-'));
    try {
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
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

import { execFile } from 'node:child_process';
import { cp, lstat, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ALERTS_DIR, DASHBOARDS_DIR, dashboards, ruleFiles, rules } from '../helpers/observability-files.js';
import {
  CHART_DIR,
  NAMESPACE,
  helm,
  matchesSelector,
  only,
  render,
  renderCiCasesOnce,
  renderText,
  serverContainer,
  type Labels,
  type Manifest,
} from '../helpers/helm.js';

// Observability wiring: the metrics port and its Service, the ServiceMonitor, the PrometheusRule and the
// dashboard ConfigMaps made from the very files in the chart's files/alerts and files/dashboards.
const manifestsOf = renderCiCasesOnce();

interface ServicePort {
  name: string;
  port: number;
  targetPort: number | string;
}
interface ServiceSpec {
  type: string;
  selector: Labels;
  ports: ServicePort[];
}
interface ServiceMonitorSpec {
  namespaceSelector: { matchNames: string[] };
  selector: { matchLabels: Labels };
  endpoints: Array<{ port: string; path: string; interval: string; scrapeTimeout: string }>;
}

function ofKind(manifests: readonly Manifest[], kind: string): Manifest[] {
  return manifests.filter((m) => m.kind === kind);
}

describe('metrics endpoint', () => {
  it('the container exposes the metrics port "metrics" the server listens on', () => {
    const manifests = manifestsOf('minimal');
    const port = serverContainer(manifests).ports!.find((p) => p.name === 'metrics');
    expect(port).toEqual({ name: 'metrics', containerPort: 9464, protocol: 'TCP' });
    const data = only(manifests, 'ConfigMap', 'server').data!;
    expect(data.METRICS_PORT).toBe(String(port!.containerPort));
    expect(data.METRICS_HOST).toBe('0.0.0.0');
  });

  it('moves the container port and METRICS_PORT together, and refuses the gRPC port', async () => {
    const manifests = await render({ set: { 'metrics.port': '9100' } });
    expect(serverContainer(manifests).ports!.find((p) => p.name === 'metrics')?.containerPort).toBe(9100);
    expect(only(manifests, 'ConfigMap', 'server').data!.METRICS_PORT).toBe('9100');
    await expect(render({ set: { 'metrics.port': '50051' } })).rejects.toThrow(
      /metrics\.port must differ from containerPort/,
    );
  });

  it('the gRPC Services never carry the metrics port; the metrics Service only exists for the ServiceMonitor', () => {
    for (const service of ofKind(manifestsOf('production'), 'Service')) {
      const names = (service.spec as ServiceSpec).ports.map((p) => p.name);
      expect(names, service.metadata.name).toEqual(
        service.metadata.name.endsWith('-metrics') ? ['metrics'] : ['grpc'],
      );
    }
    expect(ofKind(manifestsOf('minimal'), 'Service').map((s) => s.metadata.name)).not.toContain(
      'ci-customer-intelligence-metrics',
    );
  });
});

describe('ServiceMonitor', () => {
  it('scrapes the metrics port of the server pods through the metrics Service only', () => {
    const manifests = manifestsOf('production');
    const monitor = only(manifests, 'ServiceMonitor');
    const spec = monitor.spec as ServiceMonitorSpec;
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');

    // The selector picks exactly one rendered Service (not the gRPC or headless one), in the release namespace.
    expect(spec.namespaceSelector).toEqual({ matchNames: [NAMESPACE] });
    const selected = ofKind(manifests, 'Service').filter((s) =>
      matchesSelector(spec.selector.matchLabels, s.metadata.labels),
    );
    expect(selected.map((s) => s.metadata.name)).toEqual(['ci-customer-intelligence-metrics']);
    const service = selected[0]!.spec as ServiceSpec;
    expect(service.type).toBe('ClusterIP');

    // endpoint port -> Service port -> container port -> METRICS_PORT
    expect(spec.endpoints).toEqual([
      { port: 'metrics', path: '/metrics', scheme: 'http', interval: '15s', scrapeTimeout: '10s' },
    ]);
    const servicePort = service.ports.find((p) => p.name === spec.endpoints[0]!.port)!;
    const containerPort = serverContainer(manifests).ports!.find((p) => p.name === servicePort.targetPort)!;
    expect(containerPort.containerPort).toBe(
      Number(only(manifests, 'ConfigMap', 'server').data!.METRICS_PORT),
    );
    const podLabels = (only(manifests, 'Deployment').spec as { template: { metadata: { labels: Labels } } })
      .template.metadata.labels;
    expect(matchesSelector(service.selector, podLabels)).toBe(true);
  });

  it('carries the extra labels (the Prometheus release selector) without losing its own', () => {
    const labels = only(manifestsOf('production'), 'ServiceMonitor').metadata.labels;
    expect(labels).toMatchObject({ release: 'kps', 'app.kubernetes.io/instance': 'ci' });
  });

  it('may live in the monitoring namespace and still select the Service of the release namespace', async () => {
    const manifests = await render({
      ciCase: 'production',
      set: { 'metrics.serviceMonitor.namespace': 'monitoring', 'metrics.serviceMonitor.interval': '1m' },
    });
    const monitor = only(manifests, 'ServiceMonitor');
    expect(monitor.metadata.namespace).toBe('monitoring');
    expect((monitor.spec as ServiceMonitorSpec).namespaceSelector).toEqual({ matchNames: [NAMESPACE] });
    expect((monitor.spec as ServiceMonitorSpec).endpoints[0]!.interval).toBe('1m');
  });

  it('is off by default (it needs the prometheus-operator CRDs)', () => {
    expect(manifestsOf('minimal').map((m) => m.kind)).not.toContain('ServiceMonitor');
  });
});

describe('PrometheusRule', () => {
  it('has one object per rule file whose spec is the file, parsed and byte for byte', async () => {
    const manifests = manifestsOf('production');
    const objects = ofKind(manifests, 'PrometheusRule');
    expect(objects).toHaveLength(ruleFiles().length);
    const text = await renderText({ ciCase: 'production' });
    for (const file of ruleFiles()) {
      const content = await readFile(file, 'utf8');
      const name = `ci-customer-intelligence-${path.basename(file, '.rules.yaml')}`;
      const object = objects.find((o) => o.metadata.name === name)!;
      expect(object.apiVersion).toBe('monitoring.coreos.com/v1');
      expect(object.spec).toEqual(parse(content));
      // The rendered spec block, indentation removed, is the file itself (comments included).
      const document = text.split('\n---\n').find((d) => d.includes(`\n  name: ${name}\n`))!;
      const specBlock = document.slice(document.indexOf('\nspec:\n') + '\nspec:\n'.length);
      expect(
        specBlock
          .split('\n')
          .map((line) => line.slice(2))
          .join('\n'),
      ).toBe(content.trimEnd());
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

describe('tracing', () => {
  it('sets the OTLP endpoint and sample ratio only when tracing is configured', () => {
    const production = only(manifestsOf('production'), 'ConfigMap', 'server').data!;
    expect(production.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://otel-collector.example.internal:4317');
    expect(production.TRACE_SAMPLE_RATIO).toBe('0.05');
    const minimal = only(manifestsOf('minimal'), 'ConfigMap', 'server').data!;
    expect(minimal).not.toHaveProperty('OTEL_EXPORTER_OTLP_ENDPOINT');
    expect(minimal.TRACE_SAMPLE_RATIO).toBe('0.1');
  });
});

describe('NetworkPolicy for observability', () => {
  interface Peer {
    namespaceSelector?: { matchLabels: Labels };
    podSelector?: { matchLabels: Labels };
    ipBlock?: { cidr: string };
  }
  interface Rule {
    ports?: Array<{ port: number | string; protocol: string }>;
  }
  interface PolicySpec {
    ingress: Array<Rule & { from: Peer[] }>;
    egress: Array<Rule & { to: Peer[] }>;
  }
  const PROMETHEUS: Peer = {
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
    podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
  };

  it('opens the metrics port to the configured scrapers only, and nothing else to them', () => {
    const spec = only(manifestsOf('production'), 'NetworkPolicy', 'server').spec as PolicySpec;
    // Every rule names its ports: a rule without ports would open all of them.
    for (const rule of [...spec.ingress, ...spec.egress]) expect(rule.ports?.length).toBeGreaterThan(0);
    const metricsRules = spec.ingress.filter((rule) =>
      rule.ports!.some((p) => p.port === 'metrics' || p.port === 9464),
    );
    expect(metricsRules).toEqual([{ ports: [{ port: 'metrics', protocol: 'TCP' }], from: [PROMETHEUS] }]);
    const grpcRule = spec.ingress.find((rule) => rule.ports!.some((p) => p.port === 'grpc'))!;
    expect(grpcRule.from).not.toContainEqual(PROMETHEUS);
  });

  it('lets the pods reach the OTLP collector when tracing is on, and only then', async () => {
    const spec = only(manifestsOf('production'), 'NetworkPolicy', 'server').spec as PolicySpec;
    expect(spec.egress).toContainEqual({
      ports: [{ port: 4317, protocol: 'TCP' }],
      to: [{ ipBlock: { cidr: '10.40.0.10/32' } }],
    });
    const withoutTracing = only(
      await render({ ciCase: 'production', set: { 'tracing.otlpEndpoint': '' } }),
      'NetworkPolicy',
      'server',
    ).spec as PolicySpec;
    // Postgres, DNS, Vault and the JWKS endpoint remain; the collector's rule is gone.
    expect(withoutTracing.egress.flatMap((rule) => rule.ports!.map((p) => p.port))).toEqual([
      5432, 53, 53, 8200, 443,
    ]);
  });

  it('reaches an in-cluster collector by labels', async () => {
    const spec = only(
      await render({
        ciCase: 'production',
        set: {
          'networkPolicy.otlp.cidrs': 'null',
          'networkPolicy.otlp.peers[0].namespaceLabels.kubernetes\\.io/metadata\\.name': 'observability',
          'networkPolicy.otlp.peers[0].podLabels.app': 'otel-collector',
        },
      }),
      'NetworkPolicy',
      'server',
    ).spec as PolicySpec;
    expect(spec.egress).toContainEqual({
      ports: [{ port: 4317, protocol: 'TCP' }],
      to: [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'observability' } },
          podSelector: { matchLabels: { app: 'otel-collector' } },
        },
      ],
    });
  });

  it.each([
    ['a ServiceMonitor without scrapers', { 'networkPolicy.scrapers': 'null' }, /networkPolicy\.scrapers/],
    [
      'tracing without a collector destination',
      { 'networkPolicy.otlp.cidrs': 'null' },
      /networkPolicy\.otlp\.cidrs or networkPolicy\.otlp\.peers/,
    ],
  ])('refuses %s (the policy would silently block it)', async (_name, set, message) => {
    await expect(render({ ciCase: 'production', set })).rejects.toThrow(message);
  });
});

import { describe, expect, it } from 'vitest';
import { NAMESPACE, render, renderCiCasesOnce } from '../helpers/helm.js';
import { matchesSelector, ofKind, only, serverContainer, type Labels } from '../helpers/manifests.js';

// How telemetry leaves the pods: the metrics port and its Service, the ServiceMonitor, the OTLP endpoint for
// traces, and the NetworkPolicy rules that let the scrapes in and the spans out.
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

import { beforeAll, describe, expect, it } from 'vitest';
import { convertCrd, ensureCrdSchemas } from '../../scripts/crd-schemas.js';
import { ensureKubernetesSchemas } from '../../scripts/k8s-schemas.js';
import { CI_CASES, KUBE_VERSION, renderText } from '../helpers/helm.js';
import { parseManifests } from '../helpers/manifests.js';
import { kubeconform } from '../helpers/kubeconform.js';

// Every rendered object is validated offline against standalone-strict schemas generated from the
// Kubernetes OpenAPI spec of KUBE_VERSION (scripts/k8s-schemas.ts) and, for the ServiceMonitor, PodMonitor,
// PrometheusRule and GRPCRoute, from the prometheus-operator and Gateway API CRDs (scripts/crd-schemas.ts);
// both are cached outside the clone and generated on a fresh machine here. Unknown fields, wrong types and
// unknown kinds fail.
let schemaLocations: string[];
beforeAll(async () => {
  const kubernetes = await ensureKubernetesSchemas({ version: KUBE_VERSION });
  const crds = await ensureCrdSchemas({ root: kubernetes.root, kubernetesVersion: KUBE_VERSION });
  schemaLocations = [kubernetes.root, crds.location];
});

const validate = (yamlText: string) => kubeconform(yamlText, schemaLocations, KUBE_VERSION);

/** A small valid Deployment the strictness tests break one field at a time. */
const MINIMAL_DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  selector:
    matchLabels: {app: d}
  strategy:
    rollingUpdate:
      maxSurge: 1
  template:
    metadata:
      labels: {app: d}
    spec:
      securityContext:
        runAsNonRoot: true
      containers:
        - name: c
          image: i
          readinessProbe:
            grpc:
              port: 50051
`;

describe('rendered chart against the Kubernetes and CRD schemas', () => {
  it.each(CI_CASES)('ci/%s-values.yaml: every object is valid, none skipped', async (ciCase) => {
    const text = await renderText({ ciCase });
    const count = parseManifests(text).length;
    const report = await validate(text);
    expect(report.resources.filter((r) => r.status !== 'statusValid')).toEqual([]);
    expect(report.summary).toEqual({ valid: count, invalid: 0, errors: 0, skipped: 0 });
    expect(report.exitCode).toBe(0);
  });

  it('production has custom resources, which only the CRD schemas validate', async () => {
    const text = await renderText({ ciCase: 'production' });
    const kinds = parseManifests(text).map((m) => m.kind);
    expect(kinds).toEqual(expect.arrayContaining(['ServiceMonitor', 'PrometheusRule']));
    // Without the CRD location the same objects are errors, so the clean run above validated them.
    const report = await kubeconform(text, schemaLocations.slice(0, 1), KUBE_VERSION);
    expect(report.resources.map((r) => [r.kind, r.status]).sort()).toEqual([
      ['PrometheusRule', 'statusError'],
      ['ServiceMonitor', 'statusError'],
    ]);
  });

  it('extension-points has a PodMonitor and a GRPCRoute, which only the CRD schemas validate', async () => {
    const text = await renderText({ ciCase: 'extension-points' });
    const report = await kubeconform(text, schemaLocations.slice(0, 1), KUBE_VERSION);
    // kubeconform's workers report in no fixed order.
    const invalid = report.resources.filter((r) => r.status !== 'statusValid').map((r) => [r.kind, r.status]);
    expect(invalid.sort()).toEqual([
      ['GRPCRoute', 'statusError'],
      ['PodMonitor', 'statusError'],
    ]);
  });
});

describe('the custom resources are validated strictly', () => {
  // A misspelt field, at three depths of a rendered object, each in a deliberately broken copy.
  it.each([
    [
      'a misspelt ServiceMonitor endpoint field',
      'ServiceMonitor',
      'scrapeTimeout: 10s',
      'scrapeTimeOut: 10s',
      "additional properties 'scrapeTimeOut' not allowed",
    ],
    [
      'a misspelt ServiceMonitor spec field',
      'ServiceMonitor',
      'namespaceSelector:',
      'namespaceSelecter:',
      "additional properties 'namespaceSelecter' not allowed",
    ],
    [
      'a misspelt metadata field (ObjectMeta, not a free-form object)',
      'ServiceMonitor',
      '  namespace: ml\n',
      '  namespaces: ml\n',
      "additional properties 'namespaces' not allowed",
    ],
    [
      'a PrometheusRule rule with a misspelt key',
      'PrometheusRule',
      '- alert: CustomerIntelligenceLatencyHigh\n      annotations:',
      '- alert: CustomerIntelligenceLatencyHigh\n      annotation:',
      "additional properties 'annotation' not allowed",
    ],
    [
      'a ServiceMonitor with a malformed interval',
      'ServiceMonitor',
      'interval: 15s',
      'interval: 15 seconds',
      '/spec/endpoints/0/interval',
    ],
    [
      'a misspelt PodMonitor relabeling field',
      'PodMonitor',
      'targetLabel: node',
      'targetLabels: node',
      "additional properties 'targetLabels' not allowed",
    ],
    [
      'a GRPCRoute parentRef with a misspelt field',
      'GRPCRoute',
      'sectionName: grpc',
      'section: grpc',
      "additional properties 'section' not allowed",
    ],
    [
      'a GRPCRoute backend port given as text',
      'GRPCRoute',
      '          port: 50051',
      '          port: "50051"',
      '/spec/rules/0/backendRefs/0/port',
    ],
  ])('fails %s', async (_name, kind, original, replacement, message) => {
    // The kinds production does not render come from ci/extension-points-values.yaml.
    const ciCase = ['PodMonitor', 'GRPCRoute'].includes(kind) ? 'extension-points' : 'production';
    const text = await renderText({ ciCase });
    // Only the object of that kind is edited.
    const broken = text
      .split('\n---\n')
      .map((document) =>
        document.includes(`\nkind: ${kind}\n`) ? document.replace(original, replacement) : document,
      )
      .join('\n---\n');
    expect(broken).not.toBe(text);

    const report = await validate(broken);
    expect(report.exitCode).toBe(1);
    const invalid = report.resources.filter((r) => r.status === 'statusInvalid');
    expect(invalid.map((r) => r.kind)).toEqual([kind]);
    expect(invalid[0]?.msg).toContain(message);
  });
});

describe('the validation is strict', () => {
  it('fails a rendered Deployment with an unknown container field', async () => {
    const text = await renderText({ ciCase: 'production' });
    // A deliberately broken copy: a misspelt field inside the server container.
    const broken = text.replace('imagePullPolicy: IfNotPresent', 'imagePullPolicyy: IfNotPresent');
    expect(broken).not.toBe(text);

    const report = await validate(broken);
    expect(report.exitCode).toBe(1);
    expect(report.summary.invalid).toBeGreaterThanOrEqual(1);
    const invalid = report.resources.find((r) => r.status === 'statusInvalid');
    expect(invalid?.msg).toContain("additional properties 'imagePullPolicyy' not allowed");
  });

  it.each([
    [
      'a misspelt pod security field',
      'runAsNonRoot: true',
      'runAsNonroot: true',
      "'runAsNonroot' not allowed",
    ],
    ['a probe port given as text', 'port: 50051', 'port: "50051"', 'got string, want integer'],
    ['a field at the wrong level', 'maxSurge: 1', 'maxSurge: 1\n    maxSurge: 1', "'maxSurge' not allowed"],
  ])('fails a hand-made Deployment with %s', async (_name, original, replacement, message) => {
    // The unbroken original passes, so the failure is the edit's.
    expect((await validate(MINIMAL_DEPLOYMENT)).exitCode).toBe(0);
    const broken = MINIMAL_DEPLOYMENT.replace(original, replacement);
    expect(broken).not.toBe(MINIMAL_DEPLOYMENT);

    const report = await validate(broken);
    expect(report.exitCode).toBe(1);
    expect(report.resources[0]?.msg).toContain(message);
  });

  it('fails a kind it has no schema for instead of skipping or downloading one', async () => {
    const report = await validate('apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n');
    expect(report.exitCode).toBe(1);
    expect(report.summary.errors).toBe(1);
    expect(report.resources[0]?.msg).toContain('could not find schema for Widget');
  });
});

describe('the CRD conversion', () => {
  // Shapes the two prometheus-operator CRDs do not contain today, on a hand-made CRD.
  const crd = {
    kind: 'CustomResourceDefinition',
    spec: {
      group: 'example.com',
      names: { kind: 'Widget' },
      versions: [
        { name: 'v1alpha1', served: false, schema: { openAPIV3Schema: { type: 'object' } } },
        {
          name: 'v1',
          served: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: {
                  type: 'object',
                  required: ['size', 'note'],
                  properties: {
                    size: { type: 'integer' },
                    // Required but nullable: null is still allowed.
                    note: { type: 'string', nullable: true, description: 'dropped' },
                    raw: {
                      type: 'object',
                      'x-kubernetes-preserve-unknown-fields': true,
                      properties: { known: { type: 'string' } },
                    },
                  },
                },
              },
            },
          },
        },
      ],
    },
  };
  const objectMeta = {
    type: 'object',
    properties: { name: { type: 'string' } },
    additionalProperties: false,
  };

  it('writes served versions only, with apiVersion, kind and metadata pinned', () => {
    const files = convertCrd(crd, objectMeta);
    expect([...files.keys()]).toEqual(['example.com/widget_v1.json']);
    const schema = files.get('example.com/widget_v1.json')!;
    expect(schema).toMatchObject({
      additionalProperties: false,
      properties: {
        apiVersion: { enum: ['example.com/v1'] },
        kind: { enum: ['Widget'] },
        metadata: objectMeta,
      },
    });
  });

  it('closes objects with properties, except where unknown fields are preserved; nullable allows null', () => {
    const schema = convertCrd(crd, objectMeta).get('example.com/widget_v1.json')!;
    const spec = (schema.properties as Record<string, unknown>).spec;
    expect(spec).toEqual({
      type: ['object', 'null'],
      required: ['size', 'note'],
      additionalProperties: false,
      properties: {
        size: { type: 'integer' },
        note: { type: ['string', 'null'] },
        raw: { type: ['object', 'null'], properties: { known: { type: ['string', 'null'] } } },
      },
    });
  });
});

import { beforeAll, describe, expect, it } from 'vitest';
import { ensureKubernetesSchemas, type SchemaSet } from '../../scripts/k8s-schemas.js';
import { CI_CASES, KUBE_VERSION, parseManifests, renderText } from '../helpers/helm.js';
import { kubeconform } from '../helpers/kubeconform.js';

// Every rendered object is validated offline against standalone-strict schemas generated from the
// Kubernetes OpenAPI spec of KUBE_VERSION (scripts/k8s-schemas.ts; cached outside the clone, generated on
// a fresh machine here). Unknown fields, wrong types and unknown kinds fail.
let schemas: SchemaSet;
beforeAll(async () => {
  schemas = await ensureKubernetesSchemas({ version: KUBE_VERSION });
});

const validate = (yamlText: string) => kubeconform(yamlText, schemas.root, KUBE_VERSION);

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

describe('rendered chart against the Kubernetes schemas', () => {
  it.each(CI_CASES)('ci/%s-values.yaml: every object is valid, none skipped', async (ciCase) => {
    const text = await renderText({ ciCase });
    const count = parseManifests(text).length;
    const report = await validate(text);
    expect(report.resources.filter((r) => r.status !== 'statusValid')).toEqual([]);
    expect(report.summary).toEqual({ valid: count, invalid: 0, errors: 0, skipped: 0 });
    expect(report.exitCode).toBe(0);
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

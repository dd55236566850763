import { beforeAll, describe, expect, it } from 'vitest';
import { componentOf, cronJobsOf, type Peer, type ServerPolicySpec } from '../helpers/cronjobs.js';
import { render, renderCiCasesOnce } from '../helpers/helm.js';
import {
  matchesSelector,
  named,
  only,
  podTemplateOf,
  type Labels,
  type Manifest,
} from '../helpers/manifests.js';

// The batch CronJobs' traffic: the scoring pods in the server's gRPC ingress, and the batch NetworkPolicy.
const manifestsOf = renderCiCasesOnce();

/** The chart's defaults with the CronJobs switched on (minimal: plaintext, no auth, a database Secret). */
let defaults: Manifest[];
beforeAll(async () => {
  defaults = await render({ set: { 'cronJobs.enabled': 'true' } });
});

interface BatchPolicySpec {
  podSelector: NonNullable<Peer['podSelector']>;
  policyTypes: string[];
  ingress: unknown[];
  egress: Array<{ ports: Array<{ port: number | string; protocol: string }>; to: Peer[] }>;
}

/** Whether a LabelSelector (matchLabels and In expressions) selects these labels. */
function selects(selector: NonNullable<Peer['podSelector']>, labels: Labels): boolean {
  return (
    matchesSelector(selector.matchLabels ?? {}, labels) &&
    (selector.matchExpressions ?? []).every(
      (e) => e.operator === 'In' && e.values.includes(labels[e.key] ?? '\u0000'),
    )
  );
}

describe('NetworkPolicy', () => {
  /** Pod labels of the server, migration, test and batch pods, by component. */
  function podLabelsOf(manifests: readonly Manifest[]): Record<string, Labels> {
    const labels: Record<string, Labels> = {
      server: podTemplateOf(only(manifests, 'Deployment')).metadata.labels,
      migration: podTemplateOf(only(manifests, 'Job', 'migration')).metadata.labels,
      // The two test pods carry the same labels (templates/tests/_test-pod.tpl).
      test: named(manifests, 'Pod', '-test-health').metadata.labels!,
    };
    for (const job of cronJobsOf(manifests)) labels[componentOf(job)!] = podTemplateOf(job).metadata.labels;
    return labels;
  }

  it("lets the scoring and training pods, and no other batch pod, through the server's gRPC ingress", () => {
    const manifests = manifestsOf('production');
    const grpc = (only(manifests, 'NetworkPolicy', 'server').spec as ServerPolicySpec).ingress.find((rule) =>
      rule.ports.some((p) => p.port === 'grpc'),
    )!;
    // Peers in the release namespace: a podSelector without a namespaceSelector.
    const local = grpc.from.filter((p) => p.podSelector && !p.namespaceSelector);
    const admitted = (labels: Labels) => local.some((p) => selects(p.podSelector!, labels));
    const pods = podLabelsOf(manifests);
    expect(admitted(pods['score-churn']!)).toBe(true);
    expect(admitted(pods['score-clv']!)).toBe(true);
    // Training registers and promotes its candidates through the server's admin API.
    expect(admitted(pods.train!)).toBe(true);
    expect(admitted(pods.retention!)).toBe(false);
    expect(admitted(pods.migration!)).toBe(false);
  });

  it('gives the batch pods no ingress, and egress to Postgres, DNS, the server pods and Vault only', () => {
    const manifests = manifestsOf('production');
    const policy = only(manifests, 'NetworkPolicy', 'batch');
    expect(policy.metadata.name).toBe('ci-customer-intelligence-batch');
    const spec = policy.spec as BatchPolicySpec;
    const pods = podLabelsOf(manifests);
    for (const component of ['score-churn', 'score-clv', 'train', 'retention']) {
      expect(selects(spec.podSelector, pods[component]!), component).toBe(true);
    }
    for (const other of ['server', 'migration', 'test'] as const) {
      expect(selects(spec.podSelector, pods[other]!), other).toBe(false);
    }
    expect(spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(spec.ingress).toEqual([]);
    expect(spec.egress.flatMap((rule) => rule.ports.map((p) => p.port))).toEqual([5432, 53, 53, 50051, 8200]);
    const grpc = spec.egress.find((rule) => rule.ports.some((p) => p.port === 50051))!;
    expect(grpc.to).toHaveLength(1);
    expect(selects(grpc.to[0]!.podSelector!, pods.server!)).toBe(true);
    expect(selects(grpc.to[0]!.podSelector!, pods.migration!)).toBe(false);
    // The same Postgres and Vault destinations as the server's policy.
    const server = only(manifests, 'NetworkPolicy', 'server').spec as BatchPolicySpec;
    for (const port of [5432, 8200]) {
      const to = (s: BatchPolicySpec) => s.egress.find((rule) => rule.ports.some((p) => p.port === port))!.to;
      expect(to(spec), String(port)).toEqual(to(server));
    }
  });

  it('opens Vault to the batch pods only when they take files from the injector', async () => {
    const ports = (manifests: readonly Manifest[]) =>
      (only(manifests, 'NetworkPolicy', 'batch').spec as BatchPolicySpec).egress.flatMap((rule) =>
        rule.ports.map((p) => p.port),
      );
    // vault-direct: the batch CLIs have no Vault client; everything comes from Secrets.
    expect(ports(manifestsOf('vault-direct'))).toEqual([5432, 53, 53, 50051]);
    // Training and retention alone, with the injector: their database credentials and training's admin
    // credential come from Vault; training calls the server.
    const noScoring = { 'cronJobs.scoring.churn.enabled': 'false', 'cronJobs.scoring.clv.enabled': 'false' };
    expect(ports(await render({ ciCase: 'production', set: noScoring }))).toEqual([
      5432, 53, 53, 50051, 8200,
    ]);
    const fromSecret = await render({
      ciCase: 'production',
      set: {
        ...noScoring,
        'cronJobs.database.existingSecret': 'batch-db',
        'cronJobs.training.credential.existingSecret': 'train-key',
      },
    });
    expect(ports(fromSecret)).toEqual([5432, 53, 53, 50051]);
  });

  it('has no batch policy or peers without CronJobs or without the NetworkPolicy', async () => {
    const off = await render({ ciCase: 'production', set: { 'cronJobs.enabled': 'false' } });
    expect(off.filter((m) => m.kind === 'NetworkPolicy').map(componentOf)).toEqual(['server']);
    expect(JSON.stringify(only(off, 'NetworkPolicy', 'server'))).not.toMatch(/score-|train|retention/);
    expect(defaults.map((m) => m.kind)).not.toContain('NetworkPolicy');
  });
});

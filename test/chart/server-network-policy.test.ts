import { describe, expect, it } from 'vitest';
import { render, renderCiCasesOnce } from '../helpers/helm.js';
import { matchesSelector, ofKind, only, type Labels } from '../helpers/manifests.js';

// The server's NetworkPolicy: who may reach the gRPC port, and what the pods may reach (Postgres, DNS, Vault,
// the JWKS endpoint, the OTLP collector).
const manifestsOf = renderCiCasesOnce();

describe('NetworkPolicy', () => {
  interface Peer {
    namespaceSelector?: { matchLabels: Labels };
    podSelector?: { matchLabels: Labels };
    ipBlock?: { cidr: string };
  }
  interface PolicySpec {
    policyTypes: string[];
    ingress: Array<{ ports: Array<{ port: number | string; protocol: string }>; from: Peer[] }>;
    egress: Array<{ ports: Array<{ port: number | string; protocol: string }>; to: Peer[] }>;
  }

  it('lets only the allowed clients and the helm test reach the gRPC port, and reaches only Postgres, DNS, Vault, the JWKS endpoint and the OTLP collector', () => {
    const manifests = manifestsOf('production');
    const spec = only(manifests, 'NetworkPolicy', 'server').spec as PolicySpec;
    expect(spec.policyTypes).toEqual(['Ingress', 'Egress']);
    // The second ingress rule is the metrics port for Prometheus (observability-metrics-and-tracing.test.ts).
    expect(spec.ingress).toHaveLength(2);
    expect(spec.ingress[0]!.ports).toEqual([{ port: 'grpc', protocol: 'TCP' }]);
    // Both helm test pods: the health check and the Score call.
    const testPods = ofKind(manifests, 'Pod');
    expect(testPods).toHaveLength(2);
    for (const testPod of testPods) {
      expect(
        spec.ingress[0]!.from.some(
          (p) => p.podSelector && matchesSelector(p.podSelector.matchLabels, testPod.metadata.labels),
        ),
        testPod.metadata.name,
      ).toBe(true);
    }
    expect(spec.ingress[0]!.from).toContainEqual({
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'checkout' } },
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'checkout' } },
    });
    expect(spec.egress).toEqual([
      { ports: [{ port: 5432, protocol: 'TCP' }], to: [{ ipBlock: { cidr: '10.20.0.0/16' } }] },
      {
        ports: [
          { port: 53, protocol: 'UDP' },
          { port: 53, protocol: 'TCP' },
        ],
        to: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
            podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
          },
        ],
      },
      {
        ports: [{ port: 8200, protocol: 'TCP' }],
        to: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'vault' } },
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'vault' } },
          },
        ],
      },
      { ports: [{ port: 443, protocol: 'TCP' }], to: [{ ipBlock: { cidr: '203.0.113.0/24' } }] },
      { ports: [{ port: 4317, protocol: 'TCP' }], to: [{ ipBlock: { cidr: '10.40.0.10/32' } }] },
    ]);
  });

  it('opens egress to Vault only with a Vault provider, and to the JWKS endpoint only with a JWKS URL', async () => {
    const egressPorts = async (set: Record<string, string>) =>
      (
        only(await render({ ciCase: 'production', set }), 'NetworkPolicy', 'server').spec as PolicySpec
      ).egress.flatMap((rule) => rule.ports.map((p) => p.port));
    // vault-direct: the server's own client needs Vault; no JWKS URL there.
    const direct = only(manifestsOf('vault-direct'), 'NetworkPolicy', 'server').spec as PolicySpec;
    expect(direct.egress).toContainEqual({
      ports: [{ port: 8200, protocol: 'TCP' }],
      to: [{ ipBlock: { cidr: '10.30.0.0/24' } }],
    });
    expect(direct.egress.flatMap((rule) => rule.ports.map((p) => p.port))).not.toContain(443);
    const plain = {
      'secrets.provider': 'existingSecret',
      'database.existingSecret': 'db',
      'database.url': '',
      'database.readUrl': '',
      'auth.apiKeys.existingSecret': 'api-keys',
      'auth.jwt.keySource': 'none',
      'cronJobs.scoring.credential.existingSecret': 'batch-key',
      'cronJobs.training.credential.existingSecret': 'train-key',
    };
    expect(await egressPorts(plain)).toEqual([5432, 53, 53, 4317]);
  });

  it('refuses a policy that would cut the pods off from Vault or from the JWKS endpoint', async () => {
    await expect(
      render({ ciCase: 'production', set: { 'networkPolicy.vault.peers': 'null' } }),
    ).rejects.toThrow(/networkPolicy\.vault\.cidrs or networkPolicy\.vault\.peers/);
    await expect(
      render({ ciCase: 'vault-direct', set: { 'networkPolicy.vault.cidrs': 'null' } }),
    ).rejects.toThrow(/secrets\.provider=direct needs networkPolicy\.vault\.cidrs/);
    await expect(
      render({ ciCase: 'production', set: { 'networkPolicy.jwks.cidrs': 'null' } }),
    ).rejects.toThrow(/networkPolicy\.jwks\.cidrs or networkPolicy\.jwks\.peers/);
  });

  it('is off by default and refuses to render without the database CIDRs', async () => {
    expect(manifestsOf('minimal').map((m) => m.kind)).not.toContain('NetworkPolicy');
    await expect(render({ set: { 'networkPolicy.enabled': 'true' } })).rejects.toThrow(
      /networkPolicy\.postgres\.cidrs/,
    );
  });
});

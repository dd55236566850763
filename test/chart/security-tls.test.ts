import { describe, expect, it } from 'vitest';
import { renderCiCasesOnce } from '../helpers/helm.js';
import { named, only, podSpecOf, serverContainer } from '../helpers/manifests.js';
import { mountsOf, production, serverConfig, volumesOf } from '../helpers/server-secrets.js';

// Transport security on the rendered objects: the server certificate and client CA from their Secrets, the
// plaintext health port kept off the Services, and TLS in the `helm test` pod.
const manifestsOf = renderCiCasesOnce();

describe('TLS', () => {
  it('mounts the cert-manager Secret read-only, without subPath, and points the TLS files into it', () => {
    const manifests = manifestsOf('production');
    const spec = podSpecOf(only(manifests, 'Deployment'));
    expect(volumesOf(spec)).toContainEqual({
      name: 'tls',
      secret: {
        secretName: 'customer-intelligence-tls',
        defaultMode: 0o440,
        items: [
          { key: 'tls.crt', path: 'tls.crt' },
          { key: 'tls.key', path: 'tls.key' },
          { key: 'ca.crt', path: 'client-ca.crt' },
        ],
      },
    });
    // No subPath: kubelet updates the files in place when cert-manager renews, and the server re-reads them.
    expect(mountsOf(serverContainer(manifests))).toContainEqual({
      name: 'tls',
      mountPath: '/etc/customer-intelligence/tls',
      readOnly: true,
    });
    expect(serverConfig(manifests)).toMatchObject({
      GRPC_TLS: 'mtls',
      TLS_CERT_FILE: '/etc/customer-intelligence/tls/tls.crt',
      TLS_KEY_FILE: '/etc/customer-intelligence/tls/tls.key',
      TLS_CLIENT_CA_FILE: '/etc/customer-intelligence/tls/client-ca.crt',
      TLS_RELOAD_INTERVAL_MS: '30000',
    });
  });

  it('takes the client CA from its own Secret when one is named', async () => {
    const manifests = await production({
      'grpc.tls.clientCa.existingSecret': 'partner-ca',
      'grpc.tls.clientCa.key': 'bundle.pem',
    });
    const volumes = volumesOf(podSpecOf(only(manifests, 'Deployment')));
    expect(volumes.find((v) => v.name === 'tls')!.secret!.items!.map((i) => i.key)).toEqual([
      'tls.crt',
      'tls.key',
    ]);
    expect(volumes).toContainEqual({
      name: 'client-ca',
      secret: {
        secretName: 'partner-ca',
        defaultMode: 0o440,
        items: [{ key: 'bundle.pem', path: 'ca.crt' }],
      },
    });
    expect(serverConfig(manifests).TLS_CLIENT_CA_FILE).toBe('/etc/customer-intelligence/client-ca/ca.crt');
  });

  it('with plaintext: no certificate, no health port, probes on the gRPC port', () => {
    const manifests = manifestsOf('minimal');
    const data = serverConfig(manifests);
    expect(data.GRPC_TLS).toBe('plaintext');
    expect(Object.keys(data).filter((name) => name.startsWith('TLS_') || name === 'HEALTH_PORT')).toEqual([]);
    expect(serverContainer(manifests).ports!.map((p) => p.name)).toEqual(['grpc', 'metrics']);
    expect(volumesOf(podSpecOf(only(manifests, 'Deployment'))).map((v) => v.name)).toEqual([
      'tmp',
      'audit-spill',
    ]);
  });

  it('keeps the plaintext health port off every Service', () => {
    for (const ciCase of ['production', 'vault-direct']) {
      const healthPort = Number(serverConfig(manifestsOf(ciCase)).HEALTH_PORT);
      expect(healthPort).toBe(50052);
      for (const service of manifestsOf(ciCase).filter((m) => m.kind === 'Service')) {
        const ports = (service.spec as { ports: Array<{ port: number; targetPort: number | string }> }).ports;
        for (const port of ports) expect([port.port, port.targetPort]).not.toContain(healthPort);
        expect(ports.map((p) => p.targetPort)).not.toContain('health');
      }
    }
  });

  it.each([
    [{ 'grpc.tls.existingSecret': '' }, 'grpc.tls.mode=mtls needs grpc.tls.existingSecret'],
    [{ 'grpc.healthPort': '50051' }, 'grpc.healthPort must differ from containerPort and metrics.port'],
    [{ 'grpc.healthPort': '9464' }, 'grpc.healthPort must differ from containerPort and metrics.port'],
    [
      { 'tests.tls.existingSecret': '' },
      'tests.enabled with grpc.tls.mode=mtls needs tests.tls.existingSecret',
    ],
  ])('refuses %j with a message naming the value', async (set, message) => {
    // With the existingSecret provider, so Vault is no fallback for the certificate.
    await expect(
      production({
        'secrets.provider': 'existingSecret',
        'database.existingSecret': 'db',
        'database.url': '',
        'database.readUrl': '',
        'auth.apiKeys.existingSecret': 'keys',
        ...set,
      }),
    ).rejects.toThrow(message);
  });

  it('helm test verifies the server certificate and, with mtls, presents a client certificate', () => {
    const pod = named(manifestsOf('production'), 'Pod', '-test-health');
    const container = podSpecOf(pod).containers[0]!;
    expect(container.args).toEqual(
      expect.arrayContaining([
        '-tls',
        '-tls-ca-cert=/etc/customer-intelligence/test-tls/ca.crt',
        '-tls-client-cert=/etc/customer-intelligence/test-tls/tls.crt',
        '-tls-client-key=/etc/customer-intelligence/test-tls/tls.key',
      ]),
    );
    expect(container.args!.join(' ')).not.toContain('-tls-no-verify');
    expect(volumesOf(podSpecOf(pod))).toEqual([
      {
        name: 'tls',
        secret: {
          secretName: 'customer-intelligence-test-client',
          defaultMode: 0o440,
          items: ['ca.crt', 'tls.crt', 'tls.key'].map((key) => ({ key, path: key })),
        },
      },
    ]);
    const tlsOnly = podSpecOf(named(manifestsOf('vault-direct'), 'Pod', '-test-health')).containers[0]!.args!;
    expect(tlsOnly).toContain('-tls');
    expect(tlsOnly.join(' ')).not.toContain('-tls-client-cert');
    // With tls only the CA travels to the test pod, even when the Secret is the server's own.
    const tlsOnlyVolume = volumesOf(podSpecOf(named(manifestsOf('vault-direct'), 'Pod', '-test-health')))[0]!;
    expect(tlsOnlyVolume.secret!.items).toEqual([{ key: 'ca.crt', path: 'ca.crt' }]);
    expect(
      podSpecOf(named(manifestsOf('minimal'), 'Pod', '-test-health')).containers[0]!.args!.join(' '),
    ).not.toContain('-tls');
  });
});

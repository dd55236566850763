import { describe, expect, it } from 'vitest';
import {
  helmFailure,
  renderCiCasesOnce,
  renderWithJson,
  templateArgs,
  SCHEMA_ERROR,
} from '../helpers/helm.js';
import { ofKind, only, type Manifest } from '../helpers/manifests.js';

// A Gateway API GRPCRoute (gateway.networking.k8s.io/v1) to the gRPC Service (grpcRoute.*); kubeconform.test.ts
// validates the rendering of ci/extension-points-values.yaml against the CRD of the pinned gateway-api module.
const manifestsOf = renderCiCasesOnce();

interface GrpcRouteSpec {
  parentRefs: Array<Record<string, unknown>>;
  hostnames?: string[];
  rules: Array<{ backendRefs: Array<{ name: string; port: number }> }>;
}

const routeSpec = (manifests: readonly Manifest[]) => only(manifests, 'GRPCRoute').spec as GrpcRouteSpec;
const GATEWAY = { name: 'public', namespace: 'gateway-system' };

describe('grpcRoute', () => {
  it('is off by default', () => {
    expect(ofKind(manifestsOf('production'), 'GRPCRoute')).toEqual([]);
  });

  it("routes the listeners' calls to the gRPC Service port, every host name when none is given", async () => {
    const manifests = await renderWithJson(
      { 'grpcRoute.parentRefs': [GATEWAY] },
      { set: { 'grpcRoute.enabled': 'true', 'service.port': '8443' } },
    );
    const route = only(manifests, 'GRPCRoute');
    expect(route.apiVersion).toBe('gateway.networking.k8s.io/v1');
    expect(route.metadata.name).toBe('ci-customer-intelligence');
    const service = ofKind(manifests, 'Service').find((s) => s.metadata.name === route.metadata.name)!;
    expect((service.spec as { ports: Array<{ port: number }> }).ports[0]!.port).toBe(8443);
    expect(routeSpec(manifests)).toEqual({
      parentRefs: [GATEWAY],
      rules: [{ backendRefs: [{ name: 'ci-customer-intelligence', port: 8443 }] }],
    });
  });

  it('takes parentRefs, hostnames, labels and annotations as given', async () => {
    const parentRefs = [{ ...GATEWAY, sectionName: 'grpc', port: 443 }, { name: 'internal' }];
    const manifests = await renderWithJson(
      { 'grpcRoute.parentRefs': parentRefs, 'grpcRoute.hostnames': ['scoring.example.com', '*.example.net'] },
      {
        set: {
          'grpcRoute.enabled': 'true',
          'grpcRoute.labels.example\\.com/exposure': 'public',
          'grpcRoute.annotations.example\\.com/owner': 'ml',
        },
      },
    );
    const route = only(manifests, 'GRPCRoute');
    expect(route.metadata.labels).toMatchObject({ 'example.com/exposure': 'public' });
    expect(route.metadata.annotations).toEqual({ 'example.com/owner': 'ml' });
    expect(routeSpec(manifests)).toMatchObject({
      parentRefs,
      hostnames: ['scoring.example.com', '*.example.net'],
    });
  });

  it('refuses a route without parentRefs, naming the value', async () => {
    const stderr = await helmFailure(templateArgs({ set: { 'grpcRoute.enabled': 'true' } }));
    expect(stderr).toContain('grpcRoute.enabled needs grpcRoute.parentRefs');
  });

  it.each([
    [
      'a parentRef without a name',
      { 'grpcRoute.parentRefs': [{ namespace: 'gw' }] },
      '/grpcRoute/parentRefs/0',
    ],
    [
      'a misspelt parentRef field',
      { 'grpcRoute.parentRefs': [{ name: 'gw', section: 'grpc' }] },
      '/grpcRoute/parentRefs/0',
    ],
    [
      'a host name with a port',
      { 'grpcRoute.hostnames': ['scoring.example.com:443'] },
      '/grpcRoute/hostnames/0',
    ],
    ['an upper-case host name', { 'grpcRoute.hostnames': ['Scoring.example.com'] }, '/grpcRoute/hostnames/0'],
  ])('the schema refuses %s', async (_name, json, message) => {
    const args = [...templateArgs({ set: { 'grpcRoute.enabled': 'true' } })];
    for (const [key, value] of Object.entries(json))
      args.push('--set-json', `${key}=${JSON.stringify(value)}`);
    const stderr = await helmFailure(args);
    expect(stderr).toContain(SCHEMA_ERROR);
    expect(stderr).toContain(message);
  });
});

describe('ci/extension-points-values.yaml', () => {
  it('renders a GRPCRoute with two parents and a wildcard host name, so kubeconform checks it', () => {
    const spec = routeSpec(manifestsOf('extension-points'));
    expect(spec.parentRefs).toHaveLength(2);
    expect(spec.hostnames).toEqual(['scoring.example.com', '*.scoring.example.net']);
  });
});

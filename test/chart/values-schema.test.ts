import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHART_DIR, KUBE_VERSION, helm, helmFailure, templateArgs, SCHEMA_ERROR } from '../helpers/helm.js';

// values.schema.json is enforced by helm install, upgrade, template and lint: typos and wrong types fail
// before anything reaches the cluster.

describe('values.schema.json', () => {
  it.each([
    ['a misspelt top-level key', { replicaCount2: '3' }, "additional properties 'replicaCount2' not allowed"],
    [
      'a misspelt nested key',
      { 'autoscaling.maxReplica': '3' },
      "additional properties 'maxReplica' not allowed",
    ],
    ['a misspelt config key', { 'config.logLvl': 'debug' }, "additional properties 'logLvl' not allowed"],
    ['text for a number', { replicaCount: 'three' }, "at '/replicaCount': got string, want integer"],
    ['an unknown enum value', { 'config.featureFallback': 'zeros' }, '/config/featureFallback'],
    [
      'a config value out of the server range',
      { 'config.maxCustomersPerRequest': '0' },
      '/config/maxCustomersPerRequest',
    ],
    ['a malformed digest', { 'image.digest': 'latest' }, '/image/digest'],
    ['a port out of range', { containerPort: '70000' }, '/containerPort'],
    [
      'a misspelt ServiceMonitor key',
      { 'metrics.serviceMonitor.intervall': '30s' },
      "additional properties 'intervall' not allowed",
    ],
    ['a scrape interval that is not a duration', { 'metrics.serviceMonitor.interval': '30' }, '/interval'],
    ['an OTLP endpoint without a scheme', { 'tracing.otlpEndpoint': 'collector:4317' }, '/otlpEndpoint'],
    ['a sample ratio above 1', { 'tracing.sampleRatio': '2' }, '/tracing/sampleRatio'],
    [
      'a malformed collector CIDR',
      { 'networkPolicy.otlp.cidrs[0]': 'collector' },
      '/networkPolicy/otlp/cidrs/0',
    ],
    ['an invalid namespace', { 'dashboards.namespace': 'Monitoring' }, '/dashboards/namespace'],
    ['an unknown secrets provider', { 'secrets.provider': 'vault' }, '/secrets/provider'],
    ['an unknown TLS mode', { 'grpc.tls.mode': 'ssl' }, '/grpc/tls/mode'],
    ['an unknown auth mode', { 'auth.mode': 'optional' }, '/auth/mode'],
    ['an unknown JWT key source', { 'auth.jwt.keySource': 'jwks' }, '/auth/jwt/keySource'],
    [
      'a JWKS URL in clear',
      { 'auth.jwt.jwksUrl': 'http://login.example.com/jwks.json' },
      '/auth/jwt/jwksUrl',
    ],
    ['a negative JWT age bound', { 'auth.jwt.maxTokenAgeSeconds': '-1' }, '/auth/jwt/maxTokenAgeSeconds'],
    [
      'a database URL with credentials (Vault supplies them)',
      { 'database.url': 'postgres://scoring:secret@db:5432/ci' },
      '/database/url',
    ],
    ['a rate limit for an unknown role', { 'config.rateLimits': 'reader=10:20' }, '/config/rateLimits'],
    ['a Vault KV path with a leading slash', { 'secrets.vault.kv.path': '/ml/ci' }, '/secrets/vault/kv/path'],
    [
      'a misspelt Vault key',
      { 'secrets.vault.adress': 'https://vault:8200' },
      "additional properties 'adress'",
    ],
    // Values the API server would refuse, or that would block the cluster, once rendered.
    [
      'a maxSurge of 0 (maxUnavailable is always 0: the rollout could not move)',
      { 'rollingUpdate.maxSurge': '0' },
      "at '/rollingUpdate/maxSurge': minimum: got 0, want 1",
    ],
    ['a maxSurge of 0%', { 'rollingUpdate.maxSurge': '0%' }, "at '/rollingUpdate/maxSurge'"],
    [
      'a PodDisruptionBudget allowing no disruption (it blocks every drain)',
      { 'podDisruptionBudget.maxUnavailable': '0' },
      "at '/podDisruptionBudget/maxUnavailable': minimum: got 0, want 1",
    ],
    [
      'a PodDisruptionBudget of 0%',
      { 'podDisruptionBudget.maxUnavailable': '0%' },
      "at '/podDisruptionBudget/maxUnavailable'",
    ],
    [
      'a fullnameOverride that is not a DNS label (every object name starts with it)',
      { fullnameOverride: 'ABC_def' },
      "at '/fullnameOverride': 'ABC_def' does not match pattern",
    ],
    ['a nameOverride that is not a DNS label', { nameOverride: 'Scoring' }, "at '/nameOverride'"],
    ['a blank image tag', { 'image.tag': ' ' }, "at '/image/tag': ' ' does not match pattern"],
    ['an image tag with a colon', { 'image.tag': '0.1.0:latest' }, "at '/image/tag'"],
    ['a blank test image tag', { 'tests.image.tag': ' ' }, "at '/tests/image/tag'"],
  ])('rejects %s', async (_name, set, message) => {
    const stderr = await helmFailure(templateArgs({ set }));
    expect(stderr).toContain(SCHEMA_ERROR);
    expect(stderr).toContain(message);
  });

  it('requires the database Secret name, and the transport and auth choices, naming each value', async () => {
    const bare = ['template', 'ci', CHART_DIR, '--kube-version', KUBE_VERSION];
    // A cross-field rule (Vault credentials make the Secret optional), so the templates check it.
    expect(await helmFailure([...bare, '--set', 'grpc.tls.mode=plaintext,auth.mode=none'])).toContain(
      'database.existingSecret is required',
    );
    expect(await helmFailure([...bare, '--set', 'database.existingSecret=db,auth.mode=none'])).toContain(
      'grpc.tls.mode is required: plaintext, tls or mtls',
    );
    expect(await helmFailure([...bare, '--set', 'database.existingSecret=db,grpc.tls.mode=tls'])).toContain(
      'auth.mode is required',
    );
    await expect(
      helm([...bare, '--set', 'database.existingSecret=db,grpc.tls.mode=plaintext,auth.mode=none']),
    ).resolves.toBeDefined();
  });

  it('accepts the same values with the typo fixed', async () => {
    await expect(
      helm(templateArgs({ set: { replicaCount: '3', 'autoscaling.maxReplicas': '3' } })),
    ).resolves.toBeDefined();
  });

  it('accepts the valid neighbours of the rejected values', async () => {
    const set = {
      'rollingUpdate.maxSurge': '1%', // rounded up: one pod
      'podDisruptionBudget.maxUnavailable': '25%',
      fullnameOverride: 'scoring-prod',
      nameOverride: 'scoring',
      'image.tag': '0.1.0-rc.1_build.7',
    };
    await expect(helm(templateArgs({ set }))).resolves.toBeDefined();
  });

  it('forbids unknown keys in every object it declares', async () => {
    const schema = JSON.parse(await readFile(path.join(CHART_DIR, 'values.schema.json'), 'utf8')) as unknown;
    const open: string[] = [];
    const visit = (node: unknown, at: string): void => {
      if (typeof node !== 'object' || node === null) return;
      const object = node as Record<string, unknown>;
      // `global` belongs to Helm (parent charts pass it down); stringMap-style maps declare their value type.
      if (
        object.properties !== undefined &&
        object.additionalProperties !== false &&
        at !== '/properties/global'
      ) {
        open.push(at);
      }
      for (const [key, value] of Object.entries(object)) visit(value, `${at}/${key}`);
    };
    visit(schema, '');
    expect(open).toEqual([]);
  });
});

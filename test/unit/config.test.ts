import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, environmentSchema, loadConfig } from '../../server/src/config/config.js';

describe('loadConfig', () => {
  it('fills defaults and freezes the result', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      grpcPort: 50_051,
      databaseUrl: undefined,
      featureFallback: 'none',
      maxCustomersPerRequest: 1_000,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('listens on loopback only for the quick start (no DATABASE_URL), on every interface otherwise', () => {
    expect(loadConfig({})).toMatchObject({ grpcHost: '127.0.0.1', metricsHost: '127.0.0.1' });
    const deployed = { DATABASE_URL: 'postgres://db:5432/ci', GRPC_TLS: 'plaintext', AUTH_MODE: 'none' };
    expect(loadConfig(deployed)).toMatchObject({ grpcHost: '0.0.0.0', metricsHost: '0.0.0.0' });
    expect(loadConfig({ GRPC_HOST: '::', METRICS_HOST: '10.0.0.7' })).toMatchObject({
      grpcHost: '::',
      metricsHost: '10.0.0.7',
    });
  });

  it('parses numbers, enums and URLs', () => {
    const config = loadConfig({
      GRPC_PORT: '0',
      DATABASE_URL: 'postgres://u:p@db:5432/ci',
      GRPC_TLS: 'plaintext',
      AUTH_MODE: 'none',
      FEATURE_FALLBACK: 'population-mean',
      CUSTOMER_ID_PATTERN: '^[0-9]+$',
    });
    expect(config.grpcPort).toBe(0);
    expect(config.databaseUrl).toBe('postgres://u:p@db:5432/ci');
    expect(config.featureFallback).toBe('population-mean');
    expect(config.customerIdPattern.test('123')).toBe(true);
    expect(config.customerIdPattern.test('abc')).toBe(false);
  });

  it.each([
    [{ GRPC_PORT: '70000' }, /GRPC_PORT: .*got "70000"/],
    [{ GRPC_PORT: 'http' }, /GRPC_PORT: /],
    [{ FEATURE_FALLBACK: 'zeros' }, /FEATURE_FALLBACK: /],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL: /],
    [{ CUSTOMER_ID_PATTERN: '([' }, /CUSTOMER_ID_PATTERN: not a regular expression/],
    [
      { FEATURE_QUERY_TIMEOUT_MS: '800', REQUEST_TIMEOUT_MS: '500' },
      /FEATURE_QUERY_TIMEOUT_MS: must be below REQUEST_TIMEOUT_MS/,
    ],
    [
      { SHUTDOWN_DRAIN_DELAY_MS: '5000', SHUTDOWN_GRACE_MS: '5000' },
      /SHUTDOWN_DRAIN_DELAY_MS: must be below SHUTDOWN_GRACE_MS/,
    ],
  ])('rejects %j naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('never echoes a connection string, which may hold a password', () => {
    const env = { DATABASE_URL: 'mysql://admin:hunter2@db/ci' };
    expect(() => loadConfig(env)).toThrow(/DATABASE_URL: .*value hidden/);
    expect(() => loadConfig(env)).not.toThrow(/hunter2/);
  });

  it('is documented: the README table lists exactly the variables the schema reads', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(
      readme.indexOf('## Configuration'),
      readme.indexOf('\n## ', readme.indexOf('## Configuration') + 1),
    );
    const documented = [...section.matchAll(/^\|\s*`([A-Z0-9_]+)`\s*\|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(environmentSchema.shape).sort());
  });
});

describe('security configuration', () => {
  const production = { DATABASE_URL: 'postgres://u:p@db/ci' };

  it('defaults to plaintext and no auth only for the embedded quick start', () => {
    expect(loadConfig({}).security).toMatchObject({ tls: { mode: 'plaintext' }, auth: { mode: 'none' } });
    expect(() => loadConfig(production)).toThrow(/GRPC_TLS: required when DATABASE_URL is set/);
    expect(() => loadConfig(production)).toThrow(/AUTH_MODE: required when DATABASE_URL is set/);
  });

  it.each([
    [{ GRPC_TLS: 'tls', AUTH_MODE: 'none' }, /TLS_CERT_FILE, TLS_KEY_FILE: both required with GRPC_TLS=tls/],
    [
      { GRPC_TLS: 'mtls', TLS_CERT_FILE: 'c', TLS_KEY_FILE: 'k', AUTH_MODE: 'none' },
      /TLS_CLIENT_CA_FILE: required with GRPC_TLS=mtls/,
    ],
    [
      { GRPC_TLS: 'plaintext', AUTH_MODE: 'required' },
      /AUTH_MODE: required needs API_KEYS_FILE or a JWT key source/,
    ],
    [
      { GRPC_TLS: 'plaintext', AUTH_MODE: 'required', JWT_JWKS_FILE: 'j' },
      /JWT_ISSUER, JWT_AUDIENCE: both required/,
    ],
    [
      { GRPC_TLS: 'plaintext', AUTH_MODE: 'none', JWT_JWKS_FILE: 'j', JWT_HS256_SECRET_FILE: 's' },
      /set at most one/,
    ],
    [
      { GRPC_TLS: 'plaintext', AUTH_MODE: 'none', RATE_LIMITS: 'scorer=10' },
      /RATE_LIMITS: "scorer=10" is not role=rate:burst/,
    ],
    [{ GRPC_TLS: 'plaintext', AUTH_MODE: 'none', RATE_LIMITS: 'guest=1:1' }, /RATE_LIMITS: "guest=1:1"/],
    [
      { GRPC_TLS: 'plaintext', AUTH_MODE: 'none', MAX_STREAMS_PER_PRINCIPAL: '-1' },
      /MAX_STREAMS_PER_PRINCIPAL/,
    ],
  ])('rejects %j', (env, message) => {
    expect(() => loadConfig({ ...production, ...env })).toThrow(message);
  });

  it('parses a production setup', () => {
    const { security } = loadConfig({
      ...production,
      GRPC_TLS: 'mtls',
      TLS_CERT_FILE: '/tls/tls.crt',
      TLS_KEY_FILE: '/tls/tls.key',
      TLS_CLIENT_CA_FILE: '/tls/ca.crt',
      AUTH_MODE: 'required',
      JWT_JWKS_URL: 'https://issuer.example/.well-known/jwks.json',
      JWT_ISSUER: 'https://issuer.example',
      JWT_AUDIENCE: 'customer-intelligence',
      RATE_LIMITS: 'scorer=200:400, batch=10:20',
      REFLECTION_ENABLED: 'false',
    });
    expect(security.tls.mode).toBe('mtls');
    expect(security.auth.jwt).toMatchObject({
      keys: { kind: 'jwks-url' },
      audience: 'customer-intelligence',
    });
    expect(security.rateLimits).toEqual({
      scorer: { ratePerSecond: 200, burst: 400 },
      batch: { ratePerSecond: 10, burst: 20 },
    });
    expect(security.reflectionEnabled).toBe(false);
  });

  it('caps streams per principal at 8 unless told otherwise (0 = unlimited)', () => {
    expect(loadConfig({}).security.maxStreamsPerPrincipal).toBe(8);
    expect(loadConfig({ MAX_STREAMS_PER_PRINCIPAL: '0' }).security.maxStreamsPerPrincipal).toBe(0);
  });
});

describe('configuration of the database tools', () => {
  it('does not ask migrate and seed to choose GRPC_TLS and AUTH_MODE', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://u:p@db/ci' }, { serving: false });
    expect(config.databaseUrl).toBe('postgres://u:p@db/ci');
  });
});

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

  it('parses numbers, enums and URLs', () => {
    const config = loadConfig({
      GRPC_PORT: '0',
      DATABASE_URL: 'postgres://u:p@db:5432/ci',
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

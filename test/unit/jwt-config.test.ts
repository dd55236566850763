import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/src/config/config.js';

// The JWT variables: JWKS only over https (or http to this machine), and the optional maximum token age.
const jwt = { JWT_ISSUER: 'https://issuer.example', JWT_AUDIENCE: 'customer-intelligence' };

describe('JWT configuration', () => {
  it.each([
    'http://issuer.example/.well-known/jwks.json',
    'http://10.0.0.7:8080/jwks',
    'http://localhost.issuer.example/jwks',
  ])('refuses the JWKS URL %s: keys over plain http could be swapped on the way', (url) => {
    expect(() => loadConfig({ ...jwt, JWT_JWKS_URL: url })).toThrow(
      `JWT_JWKS_URL: must be an https:// URL (plain http only to a loopback host: localhost, 127.0.0.1, [::1]) (got "${url}")`,
    );
  });

  it.each([
    'https://issuer.example/.well-known/jwks.json',
    'http://localhost:8080/jwks',
    'http://127.0.0.1:8080/jwks',
    'http://127.3.2.1/jwks',
    'http://[::1]:8080/jwks',
  ])('accepts the JWKS URL %s', (url) => {
    expect(loadConfig({ ...jwt, JWT_JWKS_URL: url }).security.auth.jwt?.keys).toEqual({
      kind: 'jwks-url',
      url,
    });
  });

  it('takes JWT_MAX_TOKEN_AGE_S in whole seconds, unset by default', () => {
    const keys = { ...jwt, JWT_JWKS_URL: 'https://issuer.example/jwks' };
    expect(loadConfig(keys).security.auth.jwt?.maxTokenAgeS).toBeUndefined();
    expect(loadConfig({ ...keys, JWT_MAX_TOKEN_AGE_S: '3600' }).security.auth.jwt?.maxTokenAgeS).toBe(3_600);
    expect(() => loadConfig({ ...keys, JWT_MAX_TOKEN_AGE_S: '0' })).toThrow(/^ {2}JWT_MAX_TOKEN_AGE_S: /m);
    expect(() => loadConfig({ ...keys, JWT_MAX_TOKEN_AGE_S: '1h' })).toThrow(/^ {2}JWT_MAX_TOKEN_AGE_S: /m);
  });
});

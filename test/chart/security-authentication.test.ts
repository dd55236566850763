import { describe, expect, it } from 'vitest';
import { renderCiCasesOnce } from '../helpers/helm.js';
import { only, podSpecOf } from '../helpers/manifests.js';
import { production, serverConfig, volumesOf } from '../helpers/server-secrets.js';

// Authentication on the rendered objects: API keys and JWTs (a JWKS URL or file, or an HS256 secret) and the
// combinations the chart refuses.
const manifestsOf = renderCiCasesOnce();

describe('authentication', () => {
  it('production: API keys from Vault and JWTs verified against the JWKS URL', () => {
    expect(serverConfig(manifestsOf('production'))).toMatchObject({
      AUTH_MODE: 'required',
      API_KEYS_FILE: '/vault/secrets/api_keys',
      JWT_JWKS_URL: 'https://login.example.com/.well-known/jwks.json',
      JWT_ISSUER: 'https://login.example.com/',
      JWT_AUDIENCE: 'customer-intelligence',
      JWT_ROLES_CLAIM: 'ci_roles',
      RATE_LIMITS: 'scorer=500:1000,batch=20:40,admin=5:10',
      MAX_IN_FLIGHT: '256',
      REFLECTION_ENABLED: 'false',
    });
    expect(serverConfig(manifestsOf('production'))).not.toHaveProperty('JWT_MAX_TOKEN_AGE_S');
  });

  it('bounds the token age when auth.jwt.maxTokenAgeSeconds is set', async () => {
    const manifests = await production({ 'auth.jwt.maxTokenAgeSeconds': '900' });
    expect(serverConfig(manifests).JWT_MAX_TOKEN_AGE_S).toBe('900');
  });

  it('mounts the API key list, a JWKS ConfigMap or an HS256 Secret from Kubernetes when named', async () => {
    const manifests = await production({
      'auth.apiKeys.existingSecret': 'api-keys',
      'auth.apiKeys.key': 'keys.json',
      'auth.jwt.keySource': 'jwksFile',
      'auth.jwt.jwksFile.existingConfigMap': 'issuer-jwks',
    });
    const volumes = volumesOf(podSpecOf(only(manifests, 'Deployment')));
    expect(volumes).toContainEqual({
      name: 'api-keys',
      secret: {
        secretName: 'api-keys',
        defaultMode: 0o440,
        items: [{ key: 'keys.json', path: 'api-keys.json' }],
      },
    });
    expect(volumes).toContainEqual({
      name: 'jwks',
      configMap: { name: 'issuer-jwks', items: [{ key: 'jwks.json', path: 'jwks.json' }] },
    });
    const data = serverConfig(manifests);
    expect(data).toMatchObject({
      API_KEYS_FILE: '/etc/customer-intelligence/api-keys/api-keys.json',
      JWT_JWKS_FILE: '/etc/customer-intelligence/jwks/jwks.json',
    });
    expect(data.JWT_JWKS_URL).toBeUndefined();
    const hs256 = await production({
      'auth.jwt.keySource': 'hs256Secret',
      'auth.jwt.hs256Secret.existingSecret': 'jwt',
    });
    expect(volumesOf(podSpecOf(only(hs256, 'Deployment')))).toContainEqual({
      name: 'jwt-secret',
      secret: {
        secretName: 'jwt',
        defaultMode: 0o440,
        items: [{ key: 'jwt-hs256-secret', path: 'hs256-secret' }],
      },
    });
    expect(serverConfig(hs256).JWT_HS256_SECRET_FILE).toBe('/etc/customer-intelligence/jwt/hs256-secret');
  });

  it.each([
    [
      { 'auth.apiKeys.enabled': 'false', 'auth.jwt.keySource': 'none' },
      'auth.mode=required needs auth.apiKeys.enabled or an auth.jwt.keySource',
    ],
    [{ 'auth.jwt.issuer': '' }, 'auth.jwt.keySource=jwksUrl needs auth.jwt.issuer and auth.jwt.audience'],
    [{ 'auth.jwt.jwksUrl': '' }, 'auth.jwt.keySource=jwksUrl needs auth.jwt.jwksUrl'],
    [
      {
        'auth.jwt.keySource': 'jwksFile',
        'auth.jwt.jwksFile.existingConfigMap': 'a',
        'auth.jwt.jwksFile.existingSecret': 'b',
      },
      'needs exactly one of auth.jwt.jwksFile.existingConfigMap and auth.jwt.jwksFile.existingSecret',
    ],
    [
      {
        'secrets.provider': 'existingSecret',
        'database.existingSecret': 'db',
        'database.url': '',
        'database.readUrl': '',
      },
      'auth.apiKeys.enabled needs auth.apiKeys.existingSecret',
    ],
  ])('refuses %j', async (set, message) => {
    await expect(production(set)).rejects.toThrow(message);
  });
});

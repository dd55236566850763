import { createPublicKey, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type GenerateKeyPairResult } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../server/src/errors.js';
import { JwtAuthenticator, type JwtOptions } from '../../server/src/security/jwt-authenticator.js';

// Tokens an attacker can make without the issuer's key: each must be refused, by real jose verification.
const ISSUER = 'https://issuer.test';
const AUDIENCE = 'customer-intelligence';
const now = () => Math.floor(Date.now() / 1000);

let dir: string;
let rsa: GenerateKeyPairResult;
let secretOptions: JwtOptions;
let jwksOptions: JwtOptions;
const secret = randomBytes(48).toString('base64url');

const base64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const claims = () => ({
  sub: 'svc-attacker',
  iss: ISSUER,
  aud: AUDIENCE,
  roles: ['admin'],
  exp: now() + 300,
});

/** The principal id a token authenticates as, or what the refusal said. */
async function outcome(options: JwtOptions, jwt: string): Promise<string> {
  const authenticator = await JwtAuthenticator.create(options);
  try {
    return (await authenticator.authenticate(jwt)).id;
  } catch (error) {
    if (error instanceof AppError) return `refused: ${error.message}`;
    return `refused: ${(error as Error).message}`;
  }
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-jwt-forgeries-'));
  rsa = await generateKeyPair('RS256', { extractable: true });
  await writeFile(path.join(dir, 'secret'), secret);
  const jwk = { ...(await exportJWK(rsa.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  await writeFile(path.join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
  const common = { issuer: ISSUER, audience: AUDIENCE, rolesClaim: 'roles' };
  secretOptions = { ...common, keys: { kind: 'hs256-secret-file', path: path.join(dir, 'secret') } };
  jwksOptions = { ...common, keys: { kind: 'jwks-file', path: path.join(dir, 'jwks.json') } };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('forged JWTs', () => {
  it('accepts the genuine tokens the forgeries imitate (the tests below would pass for a server that refuses all)', async () => {
    const hs = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(secret));
    const rs = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .sign(rsa.privateKey);
    expect(await outcome(secretOptions, hs)).toBe('jwt:svc-attacker');
    expect(await outcome(jwksOptions, rs)).toBe('jwt:svc-attacker');
  });

  it('refuses alg "none" (an unsigned token), whatever the key source', async () => {
    const unsigned = `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(claims())}.`;
    expect(await outcome(secretOptions, unsigned)).toMatch(/^refused: /);
    expect(await outcome(jwksOptions, unsigned)).toMatch(/^refused: /);
  });

  it('refuses an HS256 token signed with the issuer RSA public key as the secret (algorithm confusion)', async () => {
    const publicPem = await exportSPKI(rsa.publicKey);
    const publicDer = createPublicKey(publicPem).export({ type: 'spki', format: 'der' });
    for (const forgedSecret of [Buffer.from(publicPem), publicDer]) {
      const forged = await new SignJWT(claims())
        .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
        .sign(new Uint8Array(forgedSecret));
      expect(await outcome(jwksOptions, forged)).toMatch(/^refused: /);
    }
  });

  it('refuses a token that is not valid yet (nbf in the future)', async () => {
    const early = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'HS256' })
      .setNotBefore(now() + 3_600)
      .sign(Buffer.from(secret));
    expect(await outcome(secretOptions, early)).toMatch(/^refused: .*nbf|not active|not yet/i);
  });

  it('refuses a token with its payload changed after signing', async () => {
    const genuine = await new SignJWT({ ...claims(), roles: ['scorer'] })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(Buffer.from(secret));
    const [header, , signature] = genuine.split('.');
    const tampered = `${header}.${base64url(claims())}.${signature}`;
    expect(await outcome(secretOptions, tampered)).toMatch(/^refused: /);
  });
});

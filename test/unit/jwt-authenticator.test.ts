import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type GenerateKeyPairResult } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Status } from 'nice-grpc-common';
import { AppError } from '../../server/src/errors.js';
import { loadConfig } from '../../server/src/config/config.js';
import { JwtAuthenticator, type JwtOptions } from '../../server/src/security/jwt-authenticator.js';
import { createLogger } from '../../server/src/telemetry/logger.js';

// Real jose verification of real tokens: an HS256 secret file, and a JWKS served over http on loopback.
const secret = randomBytes(48).toString('base64url');
let dir: string;
let options: JwtOptions;
const now = () => Math.floor(Date.now() / 1000);

const silent = createLogger({ level: 'silent' });

/**
 * A token for `sub` svc-test signed with `key` (the secret by default); `claims` sets `iat`/`exp` (omitted when
 * undefined), `typ` the header's type.
 */
function token(claims: { iat?: number; exp?: number; typ?: string }, key = secret): Promise<string> {
  const jwt = new SignJWT({ roles: ['scorer'] })
    .setProtectedHeader({ alg: 'HS256', ...(claims.typ !== undefined && { typ: claims.typ }) })
    .setSubject('svc-test')
    .setIssuer('https://issuer.test')
    .setAudience('customer-intelligence');
  if (claims.iat !== undefined) jwt.setIssuedAt(claims.iat);
  if (claims.exp !== undefined) jwt.setExpirationTime(claims.exp);
  return jwt.sign(new TextEncoder().encode(key));
}

/** What authenticating `jwt` gives: the principal's id, or the reason it was refused. */
async function outcome(authenticator: JwtAuthenticator, jwt: Promise<string>): Promise<string> {
  try {
    return (await authenticator.authenticate(await jwt)).id;
  } catch (error) {
    return error instanceof AppError ? `${Status[error.status]}: ${error.message}` : (error as Error).message;
  }
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-jwt-'));
  await writeFile(path.join(dir, 'secret'), secret);
  options = {
    keys: { kind: 'hs256-secret-file', path: path.join(dir, 'secret') },
    issuer: 'https://issuer.test',
    audience: 'customer-intelligence',
    rolesClaim: 'roles',
  };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('JwtAuthenticator', () => {
  it('requires exp: a token that never expires is refused, saying so', async () => {
    const authenticator = await JwtAuthenticator.create(options);
    expect({
      'no exp': await outcome(authenticator, token({ iat: now() })),
      'exp passed': await outcome(authenticator, token({ iat: now() - 600, exp: now() - 300 })),
      'exp ahead': await outcome(authenticator, token({ iat: now(), exp: now() + 300 })),
    }).toEqual({
      'no exp': 'claim "exp" is required: tokens must expire',
      'exp passed': 'the token has expired',
      'exp ahead': 'jwt:svc-test',
    });
  });

  it('with maxTokenAgeS, refuses tokens issued longer ago, or without iat', async () => {
    const authenticator = await JwtAuthenticator.create({ ...options, maxTokenAgeS: 3_600 });
    const exp = now() + 86_400;
    expect({
      'issued 2 h ago': await outcome(authenticator, token({ iat: now() - 7_200, exp })),
      'no iat': await outcome(authenticator, token({ exp })),
      'issued 10 min ago': await outcome(authenticator, token({ iat: now() - 600, exp })),
    }).toEqual({
      'issued 2 h ago': 'the token is too old: issued more than 3600 s ago',
      'no iat': 'claim "iat" is required',
      'issued 10 min ago': 'jwt:svc-test',
    });
    // Without the setting, only exp counts.
    const unbounded = await JwtAuthenticator.create(options);
    expect(await outcome(unbounded, token({ iat: now() - 7_200, exp }))).toBe('jwt:svc-test');
  });

  it('accepts a typ header only of a JWT', async () => {
    const authenticator = await JwtAuthenticator.create(options);
    const exp = now() + 300;
    expect({
      none: await outcome(authenticator, token({ exp })),
      JWT: await outcome(authenticator, token({ exp, typ: 'JWT' })),
      'at+jwt': await outcome(authenticator, token({ exp, typ: 'at+jwt' })),
      'dpop+jwt': await outcome(authenticator, token({ exp, typ: 'dpop+jwt' })),
      'logout+jwt': await outcome(authenticator, token({ exp, typ: 'logout+jwt' })),
    }).toEqual({
      none: 'jwt:svc-test',
      JWT: 'jwt:svc-test',
      'at+jwt': 'jwt:svc-test',
      'dpop+jwt': 'the token type "dpop+jwt" is not a JWT',
      'logout+jwt': 'the token type "logout+jwt" is not a JWT',
    });
  });

  it('re-reads a rotated secret file, and refuses every token while the file is missing', async () => {
    const file = path.join(dir, 'rotating-secret');
    await writeFile(file, secret);
    const authenticator = await JwtAuthenticator.create({
      ...options,
      keys: { kind: 'hs256-secret-file', path: file },
    });
    const stop = authenticator.watch({ intervalMs: 20, logger: silent });
    try {
      const exp = now() + 300;
      const next = randomBytes(48).toString('base64url');
      expect(await outcome(authenticator, token({ exp }))).toBe('jwt:svc-test');
      await writeFile(file, next);
      await vi.waitFor(async () =>
        expect(await outcome(authenticator, token({ exp }, next))).toBe('jwt:svc-test'),
      );
      expect(await outcome(authenticator, token({ exp }))).toBe('the token signature is not valid');
      await unlink(file);
      await vi.waitFor(async () =>
        expect(await outcome(authenticator, token({ exp }, next))).toBe(
          'no token verification key is loaded (see the server log)',
        ),
      );
      await writeFile(file, next);
      await vi.waitFor(async () =>
        expect(await outcome(authenticator, token({ exp }, next))).toBe('jwt:svc-test'),
      );
    } finally {
      stop();
    }
  });

  describe('with a JWKS over plain http on loopback', () => {
    let jwks: Server;
    let privateKey: GenerateKeyPairResult['privateKey'];

    beforeAll(async () => {
      const pair = await generateKeyPair('ES256');
      privateKey = pair.privateKey;
      const body = JSON.stringify({
        keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }],
      });
      jwks = createServer((_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json' }).end(body);
      });
      await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    });
    afterAll(async () => {
      await new Promise((resolve) => jwks.close(resolve));
    });

    it('verifies tokens against its keys (JWT_JWKS_URL accepts http only there)', async () => {
      const { port } = jwks.address() as AddressInfo;
      const { jwt } = loadConfig({
        JWT_JWKS_URL: `http://127.0.0.1:${String(port)}/jwks.json`,
        JWT_ISSUER: 'https://issuer.test',
        JWT_AUDIENCE: 'customer-intelligence',
        JWT_MAX_TOKEN_AGE_S: '600',
      }).security.auth;
      expect(jwt).toMatchObject({ keys: { kind: 'jwks-url' }, maxTokenAgeS: 600 });
      const authenticator = await JwtAuthenticator.create(jwt!);
      const signed = new SignJWT({ roles: ['scorer'] })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setSubject('svc-jwks')
        .setIssuer('https://issuer.test')
        .setAudience('customer-intelligence')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
      expect(await outcome(authenticator, signed)).toBe('jwt:svc-jwks');
    });
  });
});

describe('JwtAuthenticator with a JWKS URL that goes down', () => {
  let jwks: Server;
  let url: string;
  let signingKey: GenerateKeyPairResult['privateKey'];
  /** What the JWKS endpoint answers: the key set, or a 503. */
  let up = false;
  let body = '';

  const signed = (kid: string, key = signingKey) =>
    new SignJWT({ roles: ['scorer'] })
      .setProtectedHeader({ alg: 'ES256', kid })
      .setSubject('svc-jwks')
      .setIssuer('https://issuer.test')
      .setAudience('customer-intelligence')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(key);
  const urlOptions = (): JwtOptions => ({ ...options, keys: { kind: 'jwks-url', url } });

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    signingKey = pair.privateKey;
    body = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] });
    jwks = createServer((_request, response) => {
      if (up) response.writeHead(200, { 'content-type': 'application/json' }).end(body);
      else response.writeHead(503).end();
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${String((jwks.address() as AddressInfo).port)}/jwks.json`;
  });
  afterAll(async () => {
    await new Promise((resolve) => jwks.close(resolve));
  });

  it('answers UNAVAILABLE until the first fetch succeeds, not UNAUTHENTICATED', async () => {
    up = false;
    const authenticator = await JwtAuthenticator.create(urlOptions(), silent);
    expect(await outcome(authenticator, signed('k1'))).toMatch(
      /^UNAVAILABLE: the token issuer's keys cannot be fetched/,
    );
    up = true;
    expect(await outcome(authenticator, signed('k1'))).toBe('jwt:svc-jwks');
  });

  it('keeps the last good set through an outage; an unknown kid then gets UNAVAILABLE', async () => {
    up = true;
    const authenticator = await JwtAuthenticator.create(urlOptions(), silent);
    const stop = authenticator.watch({ intervalMs: 1_000, jwksRefreshMs: 20, logger: silent });
    try {
      up = false;
      await new Promise((resolve) => setTimeout(resolve, 100)); // several failed refreshes
      expect(await outcome(authenticator, signed('k1'))).toBe('jwt:svc-jwks');
      const other = await generateKeyPair('ES256');
      expect(await outcome(authenticator, signed('k2', other.privateKey))).toMatch(
        /^UNAVAILABLE: the token issuer's keys cannot be fetched/,
      );
    } finally {
      stop();
    }
  });
});

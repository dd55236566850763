import { SignJWT } from 'jose';

/** The issuer and audience the integration tests configure (`JWT_ISSUER`, `JWT_AUDIENCE`). */
export const TEST_JWT_ISSUER = 'https://issuer.test';
export const TEST_JWT_AUDIENCE = 'customer-intelligence';

/** An HS256 token for `subject` with `roles`, issued now and valid for ten minutes, signed with `secret`. */
export function hs256Token(secret: string, subject: string, roles: readonly string[]): Promise<string> {
  return new SignJWT({ roles })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(subject)
    .setIssuer(TEST_JWT_ISSUER)
    .setAudience(TEST_JWT_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(secret));
}

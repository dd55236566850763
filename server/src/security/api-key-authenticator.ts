import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { apiKeyPrincipalId, toRoles, type Principal } from './principal.js';

/**
 * The API-key list, as stored in `API_KEYS_FILE` or in Vault: names, SHA-256 hashes (hex) and roles —
 * never the keys themselves. `npm run apikey -- --name <name> --roles scorer` makes a key and its entry.
 */
export const apiKeyListSchema = z.array(
  z
    .object({
      name: z.string().regex(/^[A-Za-z0-9_.:@-]{1,128}$/),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      roles: z.array(z.string()),
    })
    .strict(),
);

export type ApiKeyList = z.infer<typeof apiKeyListSchema>;

interface StoredKey {
  readonly hash: Buffer;
  readonly principal: Principal;
}

/** The SHA-256 of a key, hex: what the key list stores. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/**
 * Checks `x-api-key` values against the stored hashes. The presented key is hashed and compared with
 * every stored hash in constant time, with no early exit, so timing reveals neither which key matched
 * nor how much of a hash did. Keys are high-entropy random strings, so SHA-256 (not a slow password
 * hash) is the right digest. The list can be replaced at run time (file or Vault rotation).
 */
export class ApiKeyAuthenticator {
  private keys: readonly StoredKey[] = [];

  constructor(list: ApiKeyList = []) {
    this.replace(list);
  }

  /** Number of keys known. */
  get size(): number {
    return this.keys.length;
  }

  /** Replaces the key list (already validated with {@link apiKeyListSchema}). */
  replace(list: ApiKeyList): void {
    this.keys = list.map((entry) => ({
      hash: Buffer.from(entry.sha256, 'hex'),
      principal: { id: apiKeyPrincipalId(entry.name), roles: toRoles(entry.roles), via: 'api-key' },
    }));
  }

  /** The principal owning `key`, or `undefined` when no stored hash matches. */
  authenticate(key: string): Principal | undefined {
    const presented = createHash('sha256').update(key, 'utf8').digest();
    let match: Principal | undefined;
    for (const stored of this.keys) {
      if (timingSafeEqual(presented, stored.hash)) match ??= stored.principal;
    }
    return match;
  }
}

import { z } from 'zod';
import { isLoopback } from './security-config.js';

/** How the server logs in to Vault. */
export type VaultAuth =
  /** Kubernetes auth: the service-account token file is re-read on every login (it rotates). */
  | { readonly kind: 'kubernetes'; readonly role: string; readonly tokenFile: string; readonly mount: string }
  /** A Vault token from a file (dev, CI, or a Vault Agent sink). */
  | { readonly kind: 'token'; readonly tokenFile: string };

/** Vault settings, part of {@link Config}; `undefined` when VAULT_ADDR is unset. */
export interface VaultConfig {
  /** `VAULT_ADDR`: Vault's address, e.g. `https://vault.vault.svc:8200`. */
  readonly address: string;
  /** `VAULT_AUTH` (`kubernetes` | `token`) with `VAULT_ROLE`, `VAULT_K8S_TOKEN_FILE`, `VAULT_K8S_MOUNT` or `VAULT_TOKEN_FILE`. */
  readonly auth: VaultAuth;
  /** `VAULT_REQUEST_TIMEOUT_MS`. @default 3000 */
  readonly requestTimeoutMs: number;
  /**
   * `VAULT_SKIP_VERIFY`: accept any certificate from Vault (development only). Parsed here and handed to the
   * client explicitly: node-vault itself skips verification whenever the variable is set, even to "false".
   * @default false
   */
  readonly skipVerify: boolean;
  /** KV v2 secret mirrored into files (`VAULT_KV_MOUNT`, `VAULT_KV_PATH`, `VAULT_SECRETS_DIR`, `VAULT_KV_REFRESH_MS`). */
  readonly kv: { mount: string; path: string; dir: string; refreshMs: number } | undefined;
  /** Dynamic database credentials (`VAULT_DB_MOUNT`, `VAULT_DB_ROLE`). */
  readonly database: { mount: string; role: string } | undefined;
}

const optionalText = z.string().trim().min(1).optional();

/** The Vault variables, merged into the environment schema. */
export const vaultEnvironment = {
  VAULT_ADDR: z.url({ protocol: /^https?$/ }).optional(),
  VAULT_AUTH: z.enum(['kubernetes', 'token']).default('kubernetes'),
  VAULT_ROLE: optionalText,
  VAULT_K8S_TOKEN_FILE: z.string().min(1).default('/var/run/secrets/kubernetes.io/serviceaccount/token'),
  VAULT_K8S_MOUNT: z.string().min(1).default('kubernetes'),
  VAULT_TOKEN_FILE: optionalText,
  VAULT_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(3_000),
  VAULT_SKIP_VERIFY: z.stringbool().default(false),
  VAULT_KV_MOUNT: z.string().min(1).default('secret'),
  VAULT_KV_PATH: optionalText,
  VAULT_SECRETS_DIR: z.string().min(1).default('/tmp/customer-intelligence-secrets'),
  VAULT_KV_REFRESH_MS: z.coerce.number().int().min(1_000).max(86_400_000).default(60_000),
  VAULT_DB_MOUNT: z.string().min(1).default('database'),
  VAULT_DB_ROLE: optionalText,
};

type VaultEnvironment = z.infer<z.ZodObject<typeof vaultEnvironment>>;

/** Builds the Vault settings and adds a message per problem to `problems`. */
export function parseVaultConfig(
  e: VaultEnvironment & { DATABASE_URL?: string | undefined },
  problems: string[],
): VaultConfig | undefined {
  if (e.VAULT_ADDR === undefined) {
    if (e.VAULT_KV_PATH !== undefined || e.VAULT_DB_ROLE !== undefined) {
      problems.push('VAULT_ADDR: required when VAULT_KV_PATH or VAULT_DB_ROLE is set');
    }
    return undefined;
  }
  // A Vault token and database credentials over plain http could be read by anyone on the path.
  const address = new URL(e.VAULT_ADDR);
  if (address.protocol === 'http:' && !isLoopback(address)) {
    problems.push(
      'VAULT_ADDR: must be an https:// URL (plain http only to a loopback host: localhost, 127.0.0.1, [::1])',
    );
  }
  if (e.VAULT_AUTH === 'kubernetes' && e.VAULT_ROLE === undefined)
    problems.push('VAULT_ROLE: required with VAULT_AUTH=kubernetes');
  if (e.VAULT_AUTH === 'token' && e.VAULT_TOKEN_FILE === undefined)
    problems.push('VAULT_TOKEN_FILE: required with VAULT_AUTH=token');
  if (e.VAULT_DB_ROLE !== undefined && e.DATABASE_URL === undefined) {
    problems.push(
      'DATABASE_URL: required with VAULT_DB_ROLE (the URL without credentials; Vault supplies them)',
    );
  }
  return {
    address: e.VAULT_ADDR,
    auth:
      e.VAULT_AUTH === 'kubernetes'
        ? {
            kind: 'kubernetes',
            role: e.VAULT_ROLE ?? '',
            tokenFile: e.VAULT_K8S_TOKEN_FILE,
            mount: e.VAULT_K8S_MOUNT,
          }
        : { kind: 'token', tokenFile: e.VAULT_TOKEN_FILE ?? '' },
    requestTimeoutMs: e.VAULT_REQUEST_TIMEOUT_MS,
    skipVerify: e.VAULT_SKIP_VERIFY,
    kv:
      e.VAULT_KV_PATH === undefined
        ? undefined
        : {
            mount: e.VAULT_KV_MOUNT,
            path: e.VAULT_KV_PATH,
            dir: e.VAULT_SECRETS_DIR,
            refreshMs: e.VAULT_KV_REFRESH_MS,
          },
    database: e.VAULT_DB_ROLE === undefined ? undefined : { mount: e.VAULT_DB_MOUNT, role: e.VAULT_DB_ROLE },
  };
}

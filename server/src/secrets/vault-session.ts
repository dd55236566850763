import { readFile } from 'node:fs/promises';
import vault from 'node-vault';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { VaultAuth } from '../config/vault-config.js';

/** Options for {@link VaultSession.start}. */
export interface VaultOptions {
  readonly address: string;
  readonly auth: VaultAuth;
  readonly requestTimeoutMs: number;
  /** Accept any certificate (VAULT_SKIP_VERIFY=true, development only). */
  readonly skipVerify: boolean;
}

/** A lease on dynamic database credentials. */
export interface DatabaseLease {
  readonly leaseId: string;
  readonly leaseDurationS: number;
  readonly renewable: boolean;
  readonly username: string;
  readonly password: string;
}

/** Thrown when Vault cannot be reached or refuses a request; the message names the address and path. */
export class VaultError extends Error {
  override readonly name = 'VaultError';
}

/**
 * An authenticated `node-vault` client that keeps itself logged in: the token is renewed at half its
 * TTL, and when renewal fails or the token can no longer be renewed it logs in again (with backoff).
 */
export class VaultSession {
  private relogin: NodeJS.Timeout | undefined;
  private closed = false;
  private failures = 0;

  private constructor(
    private readonly client: vault.client,
    private readonly options: VaultOptions,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {
    client.on('token:expired', () => this.scheduleLogin('token no longer renewable'));
    client.on('token:error:renew', (error: unknown) =>
      this.scheduleLogin(`token renewal failed: ${describe(error)}`),
    );
  }

  /**
   * Logs in to Vault.
   *
   * @throws VaultError when Vault is unreachable or refuses the login (the server then exits).
   */
  static async start(
    options: VaultOptions,
    deps: { logger: Logger; metrics: Metrics },
  ): Promise<VaultSession> {
    const client = vault({
      endpoint: options.address,
      // strictSSL always explicit: left out, node-vault skips verification whenever VAULT_SKIP_VERIFY is set,
      // "false" included.
      requestOptions: { timeout: options.requestTimeoutMs, strictSSL: !options.skipVerify },
    });
    const session = new VaultSession(
      client,
      options,
      deps.logger.child({ component: 'vault' }),
      deps.metrics,
    );
    await session.login();
    return session;
  }

  /** Reads a KV v2 secret: its key/value data. */
  async readKv(mount: string, path: string): Promise<Record<string, unknown>> {
    const response = (await this.request('read kv', () => this.client.read(`${mount}/data/${path}`))) as {
      data?: { data?: Record<string, unknown> };
    };
    return response.data?.data ?? {};
  }

  /** Reads new dynamic credentials from the database secrets engine. */
  async databaseCredentials(mount: string, role: string): Promise<DatabaseLease> {
    const response = (await this.request('database credentials', () =>
      this.client.read(`${mount}/creds/${role}`),
    )) as {
      lease_id: string;
      lease_duration: number;
      renewable: boolean;
      data: { username: string; password: string };
    };
    return {
      leaseId: response.lease_id,
      leaseDurationS: response.lease_duration,
      renewable: response.renewable,
      username: response.data.username,
      password: response.data.password,
    };
  }

  /** Extends a lease; returns the duration Vault granted (capped by the role's max TTL). */
  async renewLease(leaseId: string, incrementS: number): Promise<number> {
    const response = (await this.request('renew lease', () =>
      this.client.write('sys/leases/renew', { lease_id: leaseId, increment: incrementS }),
    )) as { lease_duration: number };
    return response.lease_duration;
  }

  /** Revokes a lease now (its credentials stop working at once). */
  async revokeLease(leaseId: string): Promise<void> {
    await this.request('revoke lease', () => this.client.write('sys/leases/revoke', { lease_id: leaseId }));
  }

  /** Stops renewing and logging in. */
  close(): void {
    this.closed = true;
    clearTimeout(this.relogin);
    this.client.stopTokenRenewal();
  }

  private async login(): Promise<void> {
    const { auth } = this.options;
    const secret = (
      await readFile(auth.tokenFile, 'utf8').catch((error: unknown) => {
        throw new VaultError(
          `cannot read the Vault ${auth.kind} token file ${auth.tokenFile}: ${String(error)}`,
        );
      })
    ).trim();
    let ttl: number;
    if (auth.kind === 'kubernetes') {
      const response = (await this.request('kubernetes login', () =>
        this.client.kubernetesLogin({ role: auth.role, jwt: secret, mount_point: auth.mount }),
      )) as { auth: { lease_duration: number } };
      ttl = response.auth.lease_duration;
    } else {
      this.client.token = secret;
      const response = (await this.request('token lookup', () => this.client.tokenLookupSelf())) as {
        data: { ttl: number };
      };
      ttl = response.data.ttl;
    }
    if (ttl > 0) await this.client.startTokenRenewal({ ttl, renewFraction: 0.5 });
    this.logger.info({ address: this.options.address, auth: auth.kind, ttlS: ttl }, 'logged in to Vault');
  }

  private scheduleLogin(reason: string): void {
    if (this.closed) return;
    const delayMs = Math.min(30_000, 500 * 2 ** Math.min(this.failures, 6));
    this.logger.warn({ reason, retryInMs: delayMs }, 'logging in to Vault again');
    clearTimeout(this.relogin);
    this.relogin = setTimeout(() => {
      this.login().then(
        () => (this.failures = 0),
        (error: unknown) => {
          this.failures++;
          this.scheduleLogin(describe(error));
        },
      );
    }, delayMs);
    this.relogin.unref();
  }

  private async request<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      const result = await call();
      this.metrics.vaultUp.set(1);
      return result;
    } catch (error) {
      this.metrics.vaultErrors.inc({ operation });
      if (isUnreachable(error)) this.metrics.vaultUp.set(0);
      throw new VaultError(`Vault ${this.options.address}: ${operation} failed: ${describe(error)}`, {
        cause: error,
      });
    }
  }
}

function isUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  const status = (error as { response?: { statusCode?: number } } | null)?.response?.statusCode;
  return typeof code === 'string' || (status !== undefined && status >= 500);
}

/** A short description that never includes request bodies (they may carry tokens). */
function describe(error: unknown): string {
  const status = (error as { response?: { statusCode?: number } } | null)?.response?.statusCode;
  const code = (error as { code?: unknown } | null)?.code;
  if (status !== undefined) return `HTTP ${status}`;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.message.split('\n')[0]! : 'unknown error';
}

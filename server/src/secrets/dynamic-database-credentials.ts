import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { DatabaseLease, VaultSession } from './vault-session.js';

/** Options for {@link DynamicDatabaseCredentials.start}. */
export interface DynamicDatabaseCredentialsOptions {
  /** Database secrets engine mount, e.g. `database`. */
  readonly mount: string;
  /** Role whose `creds/<role>` endpoint issues the credentials. */
  readonly role: string;
  /** The database URL without credentials; the lease's username and password are put into it. */
  readonly databaseUrl: string;
  /** Rotate when this share of the lease's lifetime is left. @default 0.34 */
  readonly rotateAtRemaining?: number;
}

/**
 * Dynamic Postgres credentials from Vault's database secrets engine, kept valid for as long as the
 * server runs: the lease is renewed at half its duration; when Vault stops extending it (the role's
 * max TTL), new credentials are issued before the old ones expire and handed to `onRotate` (the
 * rotating pool switches new connections to them while old ones drain). Vault failures are retried with
 * backoff while the current credentials stay in use; the remaining lease time is exported as a metric.
 */
export class DynamicDatabaseCredentials {
  private timer: NodeJS.Timeout | undefined;
  private lease!: DatabaseLease;
  /** Leases issued to this process that may still be valid (the current one, and earlier ones until they end). */
  private readonly issued = new Map<string, number>();
  private expiresAt = 0;
  private failures = 0;
  private closed = false;

  private constructor(
    private readonly session: VaultSession,
    private readonly options: DynamicDatabaseCredentialsOptions,
    private readonly onRotate: (url: string) => Promise<void>,
    private readonly logger: Logger,
  ) {}

  /** Issues the first credentials. @throws VaultError when Vault cannot issue them. */
  static async start(
    session: VaultSession,
    options: DynamicDatabaseCredentialsOptions,
    deps: { onRotate: (url: string) => Promise<void>; logger: Logger; metrics: Metrics },
  ): Promise<DynamicDatabaseCredentials> {
    const credentials = new DynamicDatabaseCredentials(
      session,
      options,
      deps.onRotate,
      deps.logger.child({ component: 'vault-db' }),
    );
    await credentials.issue();
    deps.metrics.addSampler(() =>
      deps.metrics.vaultLeaseRemaining.set(
        { lease: 'database' },
        Math.max(0, (credentials.expiresAt - Date.now()) / 1000),
      ),
    );
    credentials.schedule();
    return credentials;
  }

  /** The connection string with the current lease's credentials. */
  get url(): string {
    const url = new URL(this.options.databaseUrl);
    url.username = encodeURIComponent(this.lease.username);
    url.password = encodeURIComponent(this.lease.password);
    return url.toString();
  }

  /**
   * Stops renewing and revokes every lease of this process that may still be valid, so its database roles
   * end with the process instead of at their TTL. Called after the pools have closed; a failed revocation
   * is logged and the lease runs out on its own.
   */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const now = Date.now();
    const live = [...this.issued].filter(([, expiresAt]) => expiresAt > now).map(([leaseId]) => leaseId);
    this.issued.clear();
    const outcomes = await Promise.allSettled(live.map((leaseId) => this.session.revokeLease(leaseId)));
    const failed = outcomes.filter((outcome) => outcome.status === 'rejected');
    if (failed.length > 0) {
      this.logger.warn(
        { err: (failed[0] as PromiseRejectedResult).reason, failed: failed.length },
        'database lease revocation failed; the leases run out at their TTL',
      );
    } else if (live.length > 0) this.logger.info({ leases: live.length }, 'database credentials revoked');
  }

  private async issue(): Promise<void> {
    this.lease = await this.session.databaseCredentials(this.options.mount, this.options.role);
    this.expiresAt = Date.now() + this.lease.leaseDurationS * 1000;
    this.issued.set(this.lease.leaseId, this.expiresAt);
    this.logger.info(
      { user: this.lease.username, leaseS: this.lease.leaseDurationS },
      'database credentials issued',
    );
  }

  /** Time left on the lease at which new credentials are issued: a share of the lease duration. */
  private get rotateAtMs(): number {
    return this.lease.leaseDurationS * 1000 * (this.options.rotateAtRemaining ?? 0.34);
  }

  private schedule(): void {
    if (this.closed) return;
    const remaining = this.expiresAt - Date.now();
    const rotateAt = this.rotateAtMs;
    // Renew halfway to the rotation point; rotate once within it (or when the lease is not renewable).
    const delay = this.lease.renewable
      ? Math.max(0, (remaining - rotateAt) / 2)
      : Math.max(0, remaining - rotateAt);
    this.timer = setTimeout(() => void this.step(), delay);
    this.timer.unref();
  }

  private async step(): Promise<void> {
    try {
      const remaining = this.expiresAt - Date.now();
      if (this.lease.renewable && remaining > this.rotateAtMs) {
        const granted = await this.session.renewLease(this.lease.leaseId, this.lease.leaseDurationS);
        this.expiresAt = Math.max(this.expiresAt, Date.now() + granted * 1000);
        this.issued.set(this.lease.leaseId, this.expiresAt);
        // Vault capped the renewal (max TTL): plan the rotation within what is left.
        if (granted < this.lease.leaseDurationS) this.lease = { ...this.lease, renewable: false };
      } else {
        await this.issue();
        await this.onRotate(this.url);
      }
      this.failures = 0;
      this.schedule();
    } catch (error) {
      this.failures++;
      const retryInMs = Math.min(30_000, 250 * 2 ** Math.min(this.failures, 7));
      this.logger.warn(
        { err: error, retryInMs },
        'database credential renewal failed; still using the current ones',
      );
      if (this.closed) return;
      this.timer = setTimeout(() => void this.step(), retryInMs);
      this.timer.unref();
    }
  }
}

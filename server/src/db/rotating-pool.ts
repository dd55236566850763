import type pg from 'pg';
import type { Logger } from '../telemetry/logger.js';

/** The part of a `pg` pool the server uses; both `pg.Pool` and {@link RotatingPool} provide it. */
export type DatabasePool = Pick<
  pg.Pool,
  'query' | 'connect' | 'totalCount' | 'idleCount' | 'waitingCount'
> & {
  readonly ended: boolean;
  end(): Promise<void>;
};

/**
 * A pool whose connection string can change at run time without failing a request: `rotate()` opens a
 * pool with the new credentials, checks that they work, switches new queries to it and only then ends
 * the old pool — which waits for the clients still checked out (in-flight queries finish on the old
 * credentials) before closing its connections. Used for Vault's dynamic database credentials.
 */
export class RotatingPool implements DatabasePool {
  private current: pg.Pool;
  private currentConnectionString: string;
  private readonly rotationListeners: Array<() => void> = [];

  /** Calls `listener` after every rotation (for connections held outside the pool, like LISTEN). */
  onRotate(listener: () => void): void {
    this.rotationListeners.push(listener);
  }
  private rotating: Promise<void> = Promise.resolve();

  constructor(
    private readonly createPool: (connectionString: string) => pg.Pool,
    connectionString: string,
    private readonly logger: Logger,
  ) {
    this.current = createPool(connectionString);
    this.currentConnectionString = connectionString;
  }

  /** The connection string new queries use (for connections made outside the pool, like LISTEN). */
  get connectionString(): string {
    return this.currentConnectionString;
  }

  readonly query = ((...args: Parameters<pg.Pool['query']>) =>
    (this.current.query as (...a: unknown[]) => unknown)(...args)) as pg.Pool['query'];

  readonly connect = ((...args: Parameters<pg.Pool['connect']>) =>
    (this.current.connect as (...a: unknown[]) => unknown)(...args)) as pg.Pool['connect'];

  get totalCount(): number {
    return this.current.totalCount;
  }

  get idleCount(): number {
    return this.current.idleCount;
  }

  get waitingCount(): number {
    return this.current.waitingCount;
  }

  get ended(): boolean {
    return this.current.ended;
  }

  /**
   * Switches to `connectionString` once a test query on it succeeds.
   *
   * @throws when the new credentials do not work; the current pool then stays in use.
   */
  rotate(connectionString: string): Promise<void> {
    this.rotating = this.rotating
      .catch(() => undefined)
      .then(async () => {
        const next = this.createPool(connectionString);
        try {
          await next.query('SELECT 1');
        } catch (error) {
          await next.end().catch(() => undefined);
          throw error;
        }
        const previous = this.current;
        this.current = next;
        this.currentConnectionString = connectionString;
        this.logger.info('database credentials rotated; draining the previous pool');
        this.rotationListeners.forEach((listener) => listener());
        void previous
          .end()
          .catch((error: unknown) => this.logger.warn({ err: error }, 'ending the previous pool failed'));
      });
    return this.rotating;
  }

  /** Ends the current pool. Safe to call more than once. */
  async end(): Promise<void> {
    await this.rotating.catch(() => undefined);
    if (!this.current.ended) await this.current.end();
  }
}

import type pg from 'pg';

/** One shard of the customer population: the customers whose id hashes to `index` modulo `count`. */
export interface Shard {
  /** 0-based, below `count`. */
  readonly index: number;
  /** At least 1; 1 means every customer. */
  readonly count: number;
}

/** Options of {@link readCustomerIdChunks}. */
export interface CustomerIdReaderOptions {
  readonly shard: Shard;
  /** Start after this customer id (a checkpoint); `null` starts at the beginning. */
  readonly after: string | null;
  /** Ids per yielded chunk. */
  readonly chunkSize: number;
  /** Chunks fetched per keyset query. @default 10 */
  readonly chunksPerPage?: number;
  /** Stops reading (the generator returns) once aborted. */
  readonly signal?: AbortSignal;
}

/**
 * The SQL condition selecting a shard, with the shard count and index as parameters `$n` and `$n+1`.
 * hashtextextended is Postgres' 64-bit text hash; masking the sign bit keeps the modulo non-negative.
 */
const shardFilter = (n: number) =>
  `(hashtextextended(customer_id, 0) & 9223372036854775807) % $${n} = $${n + 1}`;

/**
 * Reads the customer ids of one shard in `customer_features` key order, `chunkSize` at a time, with keyset
 * pagination (`WHERE customer_id > $last ORDER BY customer_id LIMIT n`): each page is an index range scan
 * that costs the same at the millionth customer as at the first, and resuming after a checkpoint is the
 * same query. Ids compare in the column's collation, the one the primary-key index is ordered by; the
 * reader never compares ids itself.
 *
 * Customers inserted during a run with an id below the shard's checkpoint are not picked up by that run.
 */
export async function* readCustomerIdChunks(
  pool: pg.Pool,
  options: CustomerIdReaderOptions,
): AsyncGenerator<string[]> {
  const { shard, chunkSize, signal } = options;
  const pageSize = chunkSize * (options.chunksPerPage ?? 10);
  const sharded = shard.count > 1;
  const first = `SELECT customer_id FROM customer_features
    WHERE ${sharded ? shardFilter(1) : 'true'}
    ORDER BY customer_id LIMIT ${pageSize}`;
  const next = `SELECT customer_id FROM customer_features
    WHERE customer_id > $1 ${sharded ? `AND ${shardFilter(2)}` : ''}
    ORDER BY customer_id LIMIT ${pageSize}`;
  const shardParams = sharded ? [shard.count, shard.index] : [];
  let last = options.after;
  for (;;) {
    if (signal?.aborted) return;
    const { rows } = await pool.query<{ customer_id: string }>(
      last === null ? first : next,
      last === null ? shardParams : [last, ...shardParams],
    );
    const ids = rows.map((row) => row.customer_id);
    for (let start = 0; start < ids.length; start += chunkSize) {
      if (signal?.aborted) return;
      yield ids.slice(start, start + chunkSize);
    }
    if (ids.length < pageSize) return;
    last = ids.at(-1)!;
  }
}

/** How many customers a shard has (for progress and ETA; a count, so O(customers)). */
export async function countShardCustomers(pool: pg.Pool, shard: Shard): Promise<number> {
  const { rows } = await pool.query<{ count: string }>(
    shard.count > 1
      ? `SELECT count(*) FROM customer_features WHERE ${shardFilter(1)}`
      : 'SELECT count(*) FROM customer_features',
    shard.count > 1 ? [shard.count, shard.index] : [],
  );
  return Number(rows[0]?.count ?? 0);
}

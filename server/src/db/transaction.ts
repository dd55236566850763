import type pg from 'pg';

/**
 * Runs `work` in one transaction on a connection of its own: connects, `BEGIN`s, runs `work`, `COMMIT`s and
 * returns what `work` returned. Statements that must hold only for the transaction (`SET LOCAL …`, an
 * advisory `pg_advisory_xact_lock`) go at the start of `work`.
 *
 * When `work` or the `COMMIT` throws, the transaction is rolled back and that error is rethrown; a failed
 * `ROLLBACK` never replaces it. The connection goes back to the pool, unless it could not even roll back:
 * then it is destroyed (`release(error)`), so that no later caller gets a connection stuck in a transaction.
 *
 * @throws whatever `connect`, `BEGIN`, `work` or `COMMIT` threw.
 */
export async function withTransaction<T>(
  pool: Pick<pg.Pool, 'connect'>,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
    throw error;
  } finally {
    client.release(broken);
  }
}

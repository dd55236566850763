import { readFile } from 'node:fs/promises';
import pg from 'pg';

/** `roles.sql`: the least-privilege group roles of the server and the batch jobs, and their grants. */
export const ROLES_SQL = new URL('./roles.sql', import.meta.url);

/**
 * Runs `roles.sql` on a migrated database: creates the group roles that do not exist yet (which needs
 * CREATEROLE) and grants them what the server and the batch jobs need (which needs the tables' owner).
 * Idempotent.
 */
export async function grantDatabaseRoles(databaseUrl: string): Promise<void> {
  const sql = await readFile(ROLES_SQL, 'utf8');
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'ci-grant-roles' });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

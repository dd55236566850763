import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * A login role that is only a member of `group` (one of roles.sql's least-privilege roles), created by
 * `admin` on the database of `url`; returns its name and the URL it logs in with. The password is made
 * here, per test run.
 */
export async function createRoleMember(
  admin: pg.Client,
  url: string,
  group: string,
): Promise<{ name: string; url: string }> {
  const name = `member_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(16).toString('hex');
  await admin.query(`CREATE ROLE ${name} LOGIN PASSWORD '${password}' IN ROLE ${group}`);
  const memberUrl = new URL(url);
  memberUrl.username = name;
  memberUrl.password = password;
  return { name, url: memberUrl.toString() };
}

/** The error a statement run as `login` (a database URL) fails with, or 'OK'. */
export async function outcomeAs(login: string, sql: string): Promise<string> {
  const client = new pg.Client({ connectionString: login });
  await client.connect();
  try {
    await client.query(sql);
    return 'OK';
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end();
  }
}

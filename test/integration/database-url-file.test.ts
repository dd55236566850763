import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ClientError, Status } from 'nice-grpc';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createScoringClient } from '../../client/src/scoring-client.js';
import { cloneDatabase, databaseUrl, dropDatabase } from '../helpers/test-postgres.js';
import { startServerOn, type TestServer } from './setup/test-server.js';

// DATABASE_URL_FILE, as a Vault Agent template renders it: the credentials in the file change and the
// server must move to them without failing a call, before the old role is dropped.
const database = `test_urlfile_${randomBytes(4).toString('hex')}`;
let dir: string;
let admin: pg.Client;
let t: TestServer;

async function createRole(): Promise<{ name: string; url: string }> {
  const name = `app_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(16).toString('hex');
  await admin.query(`CREATE ROLE ${name} LOGIN PASSWORD '${password}'`);
  await admin.query(`GRANT customer_intelligence_server TO ${name}`);
  const url = new URL(databaseUrl(inject('postgresUrl'), database));
  url.username = name;
  url.password = password;
  return { name, url: url.toString() };
}

beforeAll(async () => {
  await cloneDatabase(inject('postgresUrl'), inject('templateDatabase'), database);
  admin = new pg.Client({ connectionString: inject('postgresUrl') });
  await admin.connect();
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-urlfile-'));
});
afterAll(async () => {
  await t?.close();
  await admin?.end();
  await rm(dir, { recursive: true, force: true });
  await dropDatabase(inject('postgresUrl'), database);
});

describe('DATABASE_URL_FILE', () => {
  it('moves to the new credentials when the file changes, with no failed call', async () => {
    const [first, second] = [await createRole(), await createRole()];
    const file = path.join(dir, 'database-url');
    await writeFile(file, first.url);
    t = await startServerOn('', { DATABASE_URL: '', DATABASE_URL_FILE: file, AUDIT_SAMPLE_RATE: '0' });
    const client = createScoringClient(t.address, { retry: false });
    const failures: string[] = [];
    let calls = 0;
    let stop = false;
    const load = (async () => {
      while (!stop) {
        calls++;
        await client
          .score({
            model: 'churn',
            modelVersion: '',
            customers: [{ customerId: String((calls % 3000) + 1), features: {} }],
            reasonCodes: 0,
          })
          .catch((error: unknown) =>
            failures.push(error instanceof ClientError ? Status[error.code] : String(error)),
          );
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 500));
    await writeFile(file, second.url);
    // Wait until the server's connections belong to the new role, then revoke the old one for good.
    let users: string[] = [];
    for (let i = 0; i < 50 && !(users.length === 1 && users[0] === second.name); i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const { rows } = await admin.query<{ usename: string }>(
        `SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = $1 AND usename LIKE 'app_%'`,
        [database],
      );
      users = rows.map((row) => row.usename);
    }
    expect(users).toEqual([second.name]);
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, [
      first.name,
    ]);
    await admin.query(`DROP ROLE ${first.name}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    stop = true;
    await load;
    client.close();
    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThan(100);
  });
});

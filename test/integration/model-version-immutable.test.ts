import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { closePool, createPool } from '../../server/src/db/pool.js';
import { grantDatabaseRoles } from '../../server/src/db/roles.js';
import { ModelRegistry } from '../../server/src/registry/model-registry.js';
import { createLogger } from '../../server/src/telemetry/logger.js';
import { createRoleMember, outcomeAs } from '../helpers/role-members.js';
import { cloneDatabase, dropDatabase } from '../helpers/test-postgres.js';

// A registered version's bytes, checksum and manifest never change (migration 0007's trigger, for every
// role, the owner included), and the least-privilege roles of roles.sql may only update its state; the
// state changes the registry makes (a failed load, a new default, a rollback, the kill switch) still work.
const database = `test_immutable_${randomBytes(4).toString('hex')}`;
let url: string;
let owner: pg.Client;
const pools: pg.Pool[] = [];
const logins: Record<'owner' | 'server' | 'batch', string> = { owner: '', server: '', batch: '' };

/** A login role that is only a member of `group`, and the database URL it logs in with. */
async function member(group: string): Promise<string> {
  return (await createRoleMember(owner, url, group)).url;
}

/** The registry as `login` uses it. */
function registryAs(login: string): ModelRegistry {
  const pool = createPool({
    connectionString: login,
    max: 2,
    connectTimeoutMs: 5_000,
    applicationName: 'test-immutable',
    logger: createLogger({ level: 'silent' }),
  });
  pools.push(pool);
  return new ModelRegistry(pool);
}

beforeAll(async () => {
  url = await cloneDatabase(inject('postgresUrl'), inject('templateDatabase'), database);
  owner = new pg.Client({ connectionString: url });
  await owner.connect();
  logins.owner = url;
  logins.server = await member('customer_intelligence_server');
  logins.batch = await member('customer_intelligence_batch');
  // churn@1 registered through the admin API, churn@2 by a training job (which also goes through the admin
  // API: the server's role writes both; the batch role writes nothing of the registry).
  const onnx = await readFile(new URL('../../models/churn/1/model.onnx', import.meta.url));
  const manifest = JSON.parse(
    await readFile(new URL('../../models/churn/1/manifest.json', import.meta.url), 'utf8'),
  ) as { version: string };
  await registryAs(logins.server).register({ model: 'churn', version: '1', onnx, manifest, actor: 'test' });
  await registryAs(logins.server).register({
    model: 'churn',
    version: '2',
    onnx,
    manifest: { ...manifest, version: '2' },
    actor: 'batch:train',
  });
});

afterAll(async () => {
  await Promise.all(pools.map((pool) => closePool(pool)));
  await owner?.end();
  await dropDatabase(inject('postgresUrl'), database);
});

describe('a registered model version', () => {
  it('keeps its bytes, checksum, manifest and name: every role is refused, the owner too', async () => {
    const stored = `SELECT version, encode(sha256(onnx), 'hex') AS bytes, onnx_sha256, manifest
                      FROM model_versions ORDER BY version`;
    const before = await owner.query<{ bytes: string; onnx_sha256: string }>(stored);
    const where = `WHERE model = 'churn' AND version = '1'`;
    const tampering = {
      onnx: `UPDATE model_versions SET onnx = onnx || '\\x00'::bytea ${where}`,
      // The load-time check compares the bytes with onnx_sha256: rewriting both would get past it.
      'onnx and its checksum': `UPDATE model_versions SET onnx = '\\x00'::bytea,
                                  onnx_sha256 = encode(sha256('\\x00'::bytea), 'hex') ${where}`,
      onnx_sha256: `UPDATE model_versions SET onnx_sha256 = repeat('0', 64) ${where}`,
      manifest: `UPDATE model_versions SET manifest = manifest || '{"threshold": 0}' ${where}`,
      // Renaming hands churn@1's name to other bytes.
      version: `UPDATE model_versions SET version = '9' ${where}`,
    };
    const refusals: Record<string, Record<string, string>> = {};
    for (const [role, login] of Object.entries(logins)) {
      for (const [change, sql] of Object.entries(tampering)) {
        (refusals[role] ??= {})[change] = await outcomeAs(login, sql);
      }
    }
    const denied = 'permission denied for table model_versions';
    const immutable = (columns: string) =>
      `model version churn@1 is immutable: ${columns} cannot change after registration`;
    expect(refusals).toEqual({
      owner: {
        onnx: immutable('onnx'),
        'onnx and its checksum': immutable('onnx, onnx_sha256'),
        onnx_sha256: immutable('onnx_sha256'),
        manifest: immutable('manifest'),
        version: immutable('version'),
      },
      server: Object.fromEntries(Object.keys(tampering).map((change) => [change, denied])),
      batch: Object.fromEntries(Object.keys(tampering).map((change) => [change, denied])),
    });
    expect((await owner.query(stored)).rows).toEqual(before.rows);
    expect(before.rows.map((row) => row.bytes)).toEqual(before.rows.map((row) => row.onnx_sha256));
  });

  it('still takes the state changes: failed load, default, rollback, kill switch', async () => {
    const server = registryAs(logins.server);
    // A training job promotes its version, and admins promote, roll back and flip the kill switch, all
    // through the admin API: the server's role.
    await server.setDefault('churn', '2', 'batch:train');
    await server.setDefault('churn', '1', 'test');
    expect(await server.rollback('churn', 'test')).toBe('2');
    await server.setKillSwitch('churn', 'previous-version', 'bad scores', 'test');
    // A replica that cannot load a version marks it failed.
    await server.markFailed('churn', '1', 'cannot load: test');
    const [churn] = await server.list('churn');
    expect(churn).toMatchObject({
      defaultVersion: '2',
      previousVersion: '1',
      killSwitch: 'previous-version',
      killReason: 'bad scores',
      versions: [
        { version: '1', state: 'failed', failureReason: 'cannot load: test' },
        { version: '2', state: 'registered', failureReason: null },
      ],
    });
    // The owner may change the state too, and writing the same bytes back (an ORM saving every column)
    // changes nothing.
    expect(
      await outcomeAs(
        logins.owner,
        `UPDATE model_versions SET state = 'registered', failure_reason = NULL, onnx = onnx, manifest = manifest
         WHERE model = 'churn' AND version = '1'`,
      ),
    ).toBe('OK');
  });

  it('loses a broader UPDATE grant of an earlier roles.sql when roles.sql runs again', async () => {
    await owner.query(
      'GRANT UPDATE ON model_versions TO customer_intelligence_server, customer_intelligence_batch',
    );
    await grantDatabaseRoles(url);
    const { rows } = await owner.query<{ role: string; table: boolean; state: boolean; onnx: boolean }>(
      `SELECT role,
              has_table_privilege(role, 'model_versions', 'UPDATE') AS table,
              has_column_privilege(role, 'model_versions', 'state', 'UPDATE') AS state,
              has_column_privilege(role, 'model_versions', 'onnx', 'UPDATE') AS onnx
         FROM unnest(ARRAY['customer_intelligence_server', 'customer_intelligence_batch']) AS role`,
    );
    expect(rows).toEqual([
      { role: 'customer_intelligence_server', table: false, state: true, onnx: false },
      { role: 'customer_intelligence_batch', table: false, state: false, onnx: false },
    ]);
  });
});

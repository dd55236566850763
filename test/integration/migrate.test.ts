import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { CUSTOMER_FEATURES } from '../../server/src/demo-data/feature-catalog.js';
import { migrate, MIGRATIONS_DIR } from '../../server/src/db/migrate.js';
import { createLogger } from '../../server/src/telemetry/logger.js';
import { createEmptyDatabase, dropDatabase } from '../helpers/test-postgres.js';

const name = `test_migrate_${randomBytes(4).toString('hex')}`;
const logger = createLogger({ level: 'silent' });
afterAll(() => dropDatabase(inject('postgresUrl'), name));

describe('migrations', () => {
  it('apply once when two processes run them at the same time, and are a no-op afterwards', async () => {
    const url = await createEmptyDatabase(inject('postgresUrl'), name);

    const migrations = readdirSync(MIGRATIONS_DIR).filter((file) => file.endsWith('.sql')).length;
    const [a, b] = await Promise.all([migrate(url, logger), migrate(url, logger)]);
    // One runner applied everything; the other waited on the advisory lock and found nothing to do.
    expect([a.length, b.length].sort()).toEqual([0, migrations]);
    expect(await migrate(url, logger)).toEqual([]);

    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ name: string }>(
        'SELECT name FROM feature_registry ORDER BY name',
      );
      // The registry the migration creates is the batch generator's feature catalog.
      expect(rows.map((row) => row.name)).toEqual(CUSTOMER_FEATURES.map((f) => f.name).sort());
      const applied = await client.query('SELECT name FROM schema_migrations');
      expect(applied.rowCount).toBe(migrations);
    } finally {
      await client.end();
    }
  });
});

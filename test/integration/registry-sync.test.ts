import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ModelCatalog } from '../../server/src/inference/model-catalog.js';
import { ModelRegistry } from '../../server/src/registry/model-registry.js';
import { RegistrySync } from '../../server/src/registry/registry-sync.js';
import { seedRegistryFromFiles } from '../../server/src/registry/seed-registry.js';
import { createLogger } from '../../server/src/telemetry/logger.js';
import { createMetrics } from '../../server/src/telemetry/metrics.js';
import { cloneDatabase, dropDatabase } from '../helpers/test-postgres.js';

// The registry sync against a real registry in Postgres, counting how often it reads the registry: a burst
// of refresh requests (every registry change notifies every replica, and each admin call refreshes too)
// must not queue one full re-read per request, and a change must still be applied.
const database = `test_registry_sync_${randomBytes(4).toString('hex')}`;
const logger = createLogger({ level: 'silent' });
let db: pg.Pool;
let url: string;
let sync: RegistrySync | undefined;

/** The real registry, counting its `list` reads (what a refresh costs). */
class CountingRegistry extends ModelRegistry {
  lists = 0;
  override list(model?: string): ReturnType<ModelRegistry['list']> {
    this.lists++;
    return super.list(model);
  }
}

beforeAll(async () => {
  url = await cloneDatabase(inject('postgresUrl'), inject('templateDatabase'), database);
  db = new pg.Pool({ connectionString: url, max: 4 });
});
afterAll(async () => {
  await sync?.close();
  await db?.end();
  await dropDatabase(inject('postgresUrl'), database);
});

describe('registry sync', () => {
  it('serves a burst of refresh requests with one re-read after the running one, and applies the change', async () => {
    const registry = new CountingRegistry(db);
    await seedRegistryFromFiles(registry, path.resolve(import.meta.dirname, '../../models'), logger);
    const catalog = new ModelCatalog();
    sync = new RegistrySync(
      { registry, catalog, connectionString: () => url, logger, metrics: createMetrics() },
      { pinnedVersions: 4, warmVersions: 0 },
    );
    await sync.start();
    expect(catalog.get('churn').killSwitch?.mode ?? 'off').toBe('off');

    // 200 requests at once, for one model and for all: the first of each kind queues, the rest join one
    // that has not started (a re-read of everything covers a model's).
    registry.lists = 0;
    const burst = Array.from({ length: 200 }, (_, i) => sync!.refresh(i % 2 === 0 ? 'churn' : undefined));
    await Promise.all(burst);
    expect(registry.lists).toBe(2);

    // A change made after a refresh started is seen by the next one (here, the notification's).
    await registry.setKillSwitch('churn', 'refuse', 'burst test', 'test');
    await sync.refresh('churn');
    expect(catalog.get('churn').killSwitch).toEqual({ mode: 'refuse', reason: 'burst test' });
  });
});

import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Status } from 'nice-grpc-common';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { AppError } from '../../server/src/errors.js';
import { ModelCatalog } from '../../server/src/inference/model-catalog.js';
import { parseModelManifest, type ModelManifest } from '../../server/src/inference/model-manifest.js';
import { compareVersions } from '../../server/src/inference/model-version-order.js';
import { ModelLoadError } from '../../server/src/inference/onnx-model.js';
import { ModelRegistry } from '../../server/src/registry/model-registry.js';
import { RegistrySync } from '../../server/src/registry/registry-sync.js';
import { seedRegistryFromFiles } from '../../server/src/registry/seed-registry.js';
import { createLogger } from '../../server/src/telemetry/logger.js';
import { createMetrics } from '../../server/src/telemetry/metrics.js';
import { cloneDatabase, dropDatabase } from '../helpers/test-postgres.js';

// Which versions the registry sync loads and serves, against a real registry in Postgres and real ONNX
// sessions: the default, the previous default and the newest `warmVersions` at start; an older version on
// demand; a change another replica makes, through LISTEN/NOTIFY; and a start refused when a model has no
// loadable default. Each test gets its own clone of the seeded template database.
const models = path.resolve(import.meta.dirname, '../../models');
const logger = createLogger({ level: 'silent' });
let database: string;
let url: string;
let db: pg.Pool;
let registry: ModelRegistry;
/** The test's sync, closed after it. */
let openSync: RegistrySync | undefined;

beforeEach(async () => {
  database = `test_registry_sync_versions_${randomBytes(4).toString('hex')}`;
  url = await cloneDatabase(inject('postgresUrl'), inject('templateDatabase'), database);
  db = new pg.Pool({ connectionString: url, max: 4 });
  registry = new ModelRegistry(db);
  await seedRegistryFromFiles(registry, models, logger); // churn@1 and clv@1, both default
});
afterEach(async () => {
  await openSync?.close();
  openSync = undefined;
  await db.end();
  await dropDatabase(inject('postgresUrl'), database);
});

/** The bundled churn@1's manifest. */
async function churnManifest(): Promise<ModelManifest> {
  const file = path.join(models, 'churn', '1', 'manifest.json');
  return parseModelManifest(JSON.parse(await readFile(file, 'utf8')), file);
}

/** The bundled churn@1, registered again as `version` (same ONNX bytes, so the same scores). */
async function registerChurnCopy(version: string): Promise<void> {
  const manifest = await churnManifest();
  const onnx = await readFile(path.join(models, 'churn', '1', manifest.onnx.file));
  await registry.register({
    model: 'churn',
    version,
    onnx,
    manifest: { ...manifest, version },
    actor: 'test',
  });
}

/**
 * A sync with `warmVersions` (and `pinnedVersions`) and its catalog; a pinned version loads on demand, wired
 * as the server does.
 */
function createSync(warmVersions: number, pinnedVersions = 4): { sync: RegistrySync; catalog: ModelCatalog } {
  const catalog = new ModelCatalog();
  const created = new RegistrySync(
    { registry, catalog, connectionString: () => url, logger, metrics: createMetrics() },
    { warmVersions, pinnedVersions },
  );
  catalog.setOnDemandLoader((name, version) => {
    void created
      .ensureLoaded(name, version)
      .then(() => created.refresh(name))
      .catch(() => undefined);
  });
  openSync = created;
  return { sync: created, catalog };
}

/** What `catalog` serves of `model`: its default, its rollback target and its loaded versions, lowest first. */
function served(catalog: ModelCatalog, model: string) {
  const entry = catalog.get(model);
  return {
    defaultVersion: entry.defaultVersion,
    previousVersion: entry.previousVersion,
    loaded: [...entry.versions.keys()].sort(compareVersions),
  };
}

describe('registry sync: the versions a replica loads', () => {
  it('loads the default and the newest warmVersions, an older pinned one on demand, and keeps it', async () => {
    for (const version of ['2', '3', '4']) await registerChurnCopy(version);
    const { sync, catalog } = createSync(1);
    await sync.start();
    expect(served(catalog, 'churn')).toEqual({
      defaultVersion: '1',
      previousVersion: undefined,
      loaded: ['1', '4'],
    });

    // A request pinning churn@2: UNAVAILABLE (retry) while it loads, then served.
    const first = (() => {
      try {
        return catalog.resolve('churn', '2');
      } catch (error) {
        return error;
      }
    })();
    expect(first).toBeInstanceOf(AppError);
    expect(first).toMatchObject({ status: Status.UNAVAILABLE, reason: 'ERR_VERSION_LOADING' });
    await vi.waitFor(() => expect(catalog.resolve('churn', '2').version).toBe('2'), { timeout: 30_000 });

    // Promoting churn@3: loaded and switched to, the old default kept as the rollback target, and the
    // pinned churn@2 still loaded.
    await registry.setDefault('churn', '3', 'test');
    await sync.refresh('churn');
    expect(served(catalog, 'churn')).toEqual({
      defaultVersion: '3',
      previousVersion: '1',
      loaded: ['1', '2', '3', '4'],
    });
    expect(catalog.resolve('churn').version).toBe('3');
  });

  it('keeps at most pinnedVersions pinned versions loaded, unloading the least recently pinned', async () => {
    for (const version of ['2', '3', '4']) await registerChurnCopy(version);
    const { sync, catalog } = createSync(0, 2);
    await sync.start();
    /** Pins `version` until it is served (the first calls get UNAVAILABLE while it loads). */
    const pin = (version: string) =>
      vi.waitFor(() => expect(catalog.resolve('churn', version).version).toBe(version), { timeout: 30_000 });
    await pin('2');
    await pin('3');
    await pin('2'); // churn@2 is now the more recently pinned of the two
    expect(served(catalog, 'churn').loaded).toEqual(['1', '2', '3']);

    await pin('4'); // a third pinned version: churn@3, pinned longest ago, makes room
    await vi.waitFor(() => expect(served(catalog, 'churn').loaded).toEqual(['1', '2', '4']));
    expect(() => catalog.resolve('churn', '3')).toThrow(
      expect.objectContaining({ status: Status.UNAVAILABLE, reason: 'ERR_VERSION_LOADING' }),
    );
    expect(sync.isLoaded('churn', '3')).toBe(false);
    expect(catalog.resolve('churn').version).toBe('1'); // the default is never counted or unloaded
  });

  it('follows a change another replica makes, without being asked (LISTEN/NOTIFY)', async () => {
    await registerChurnCopy('2');
    const { sync, catalog } = createSync(0);
    await sync.start();
    expect(served(catalog, 'churn').loaded).toEqual(['1']);

    const other = new pg.Pool({ connectionString: url, max: 1 });
    try {
      await new ModelRegistry(other).setDefault('churn', '2', 'another replica');
    } finally {
      await other.end();
    }
    await vi.waitFor(() => expect(served(catalog, 'churn').defaultVersion).toBe('2'), { timeout: 30_000 });
    expect(served(catalog, 'churn')).toEqual({
      defaultVersion: '2',
      previousVersion: '1',
      loaded: ['1', '2'],
    });
  });

  it('refuses to start when a model has no loadable default, and marks that version failed', async () => {
    // A model whose only version's bytes are not ONNX (the checksum matches them, so the registry takes it).
    const manifest = await churnManifest();
    const onnx = Buffer.from('this is not an ONNX model');
    const sha256 = createHash('sha256').update(onnx).digest('hex');
    await registry.register({
      model: 'broken',
      version: '1',
      onnx,
      manifest: { ...manifest, name: 'broken', onnx: { ...manifest.onnx, sha256 } },
      actor: 'test',
    });
    await registry.setDefault('broken', '1', 'test');

    const { sync, catalog } = createSync(0);
    const started = await sync.start().then(
      () => 'started',
      (error: unknown) => error,
    );
    expect(started).toBeInstanceOf(ModelLoadError);
    expect((started as Error).message).toBe('no loadable default version for broken');
    const [broken] = await registry.list('broken');
    expect(broken!.versions).toMatchObject([{ version: '1', state: 'failed' }]);
    expect(broken!.versions[0]!.failureReason).toContain('registry broken@1');
    // The other models were loaded all the same.
    expect(served(catalog, 'churn').loaded).toEqual(['1']);
  });
});

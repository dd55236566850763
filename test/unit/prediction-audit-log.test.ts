import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { trace } from '@opentelemetry/api';
import type pg from 'pg';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AuditEntry } from '../../server/src/audit/audit-entry.js';
import { createAuditSpill } from '../../server/src/audit/audit-spill.js';
import { createPredictionAuditLog } from '../../server/src/audit/prediction-audit-log.js';
import { closePool, createPool } from '../../server/src/db/pool.js';
import { createLogger } from '../../server/src/telemetry/logger.js';
import { createMetrics, type Metrics } from '../../server/src/telemetry/metrics.js';
import { freePort } from '../helpers/free-port.js';

// No mock: the database is a real pg pool pointed at a port nobody listens on, so every write is refused
// exactly as during an outage.
const logger = createLogger({ level: 'silent' });
const tracer = trace.getTracer('test');
let dir: string;
let pool: pg.Pool;
let metrics: Metrics;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-audit-log-'));
  pool = createPool({
    connectionString: `postgres://ci@127.0.0.1:${await freePort()}/ci`,
    max: 2,
    connectTimeoutMs: 500,
    applicationName: 'test',
    logger,
  });
  metrics = createMetrics();
});
afterEach(async () => {
  await closePool(pool);
  await rm(dir, { recursive: true, force: true });
});

const entry = (i: number): AuditEntry => ({
  predictedAt: new Date(),
  requestId: `req-${i}`,
  principal: null,
  customerId: String(i),
  model: 'churn',
  modelVersion: '1',
  score: 0.5,
  featureSource: 'inline',
  traceId: null,
  spanId: null,
});

async function rows(outcome: string): Promise<number> {
  const { values } = await metrics.auditRows.get();
  return values.find((value) => value.labels.outcome === outcome)?.value ?? 0;
}

/** Waits until every recorded row is queued in memory or has reached its outcome (the spill is async). */
async function settled(recorded: number): Promise<void> {
  await vi.waitFor(async () => {
    const buffered = (await metrics.auditBufferedRows.get()).values[0]?.value ?? 0;
    expect(buffered + (await rows('spilled')) + (await rows('dropped'))).toBe(recorded);
  });
}

async function spilledOnDisk(spill: ReturnType<typeof createAuditSpill>): Promise<AuditEntry[]> {
  const segments = await spill.segments();
  return (await Promise.all(segments.map((segment) => spill.read(segment)))).flatMap((read) => read.rows);
}

describe('the prediction audit log with Postgres unreachable (a refused port)', () => {
  it('spills what overflows the buffer and what is left at shutdown, losing nothing', async () => {
    const spill = createAuditSpill({ logger }, { dir, maxBytes: 1_000_000 });
    const audit = createPredictionAuditLog(
      { pool, logger, metrics, tracer },
      { maxBufferedRows: 10, flushIntervalMs: 20, maxRowsPerInsert: 4, spill, closeWriteTimeoutMs: 200 },
    );
    const recorded = Array.from({ length: 37 }, (_, i) => entry(i));
    for (let i = 0; i < recorded.length; i += 3) {
      audit.record(recorded.slice(i, i + 3));
      await settled(Math.min(i + 3, recorded.length));
    }
    await audit.close();
    await audit.close();

    expect(await rows('spilled')).toBe(37);
    expect(await rows('dropped')).toBe(0);
    expect(await rows('written')).toBe(0);
    const onDisk = await spilledOnDisk(spill);
    expect(onDisk.map((row) => row.requestId).sort()).toEqual(recorded.map((row) => row.requestId).sort());
    // Segments hold at most one INSERT's rows, so each replays as one idempotent batch.
    for (const segment of await spill.segments()) {
      expect((await spill.read(segment)).rows.length).toBeLessThanOrEqual(4);
    }
    expect((await metrics.auditSpillBytes.get()).values[0]?.value).toBe(spill.bytes);
  });

  it('drops and counts the rows that do not fit under AUDIT_SPILL_MAX_BYTES', async () => {
    const spill = createAuditSpill({ logger }, { dir, maxBytes: 1_024 });
    const audit = createPredictionAuditLog(
      { pool, logger, metrics, tracer },
      { maxBufferedRows: 5, flushIntervalMs: 20, spill, closeWriteTimeoutMs: 200 },
    );
    for (let i = 0; i < 60; i += 2) {
      audit.record([entry(i), entry(i + 1)]);
      await settled(i + 2);
    }
    await audit.close();

    const spilled = await rows('spilled');
    const dropped = await rows('dropped');
    expect(spilled).toBeGreaterThan(0);
    expect(dropped).toBeGreaterThan(0);
    expect(spilled + dropped).toBe(60);
    expect((await spilledOnDisk(spill)).length).toBe(spilled);
    expect(spill.bytes).toBeLessThanOrEqual(1_024);
    expect((await metrics.auditSpillBytes.get()).values[0]?.value).toBe(spill.bytes);
  });

  it('without a spill, drops the oldest rows past the buffer and what is left at shutdown (counted)', async () => {
    const audit = createPredictionAuditLog(
      { pool, logger, metrics, tracer },
      { maxBufferedRows: 5, flushIntervalMs: 1_000 },
    );
    audit.record(Array.from({ length: 8 }, (_, i) => entry(i)));
    expect(await rows('dropped')).toBe(3);
    await audit.close();
    expect(await rows('dropped')).toBe(8);
  });
});

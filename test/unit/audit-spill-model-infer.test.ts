import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEntry, ModelInferAuditEntry } from '../../server/src/audit/audit-entry.js';
import { createAuditSpill } from '../../server/src/audit/audit-spill.js';
import { createLogger } from '../../server/src/telemetry/logger.js';

// ModelInfer rows on the spill's real files: they round-trip, and segments written before ModelInfer was
// audited (Score lines without `method`) still read back as Score rows.
const logger = createLogger({ level: 'silent' });
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-audit-spill-v2-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const ID = '00000000-0000-4000-8000-0000000000c1';
const inferEntry = (row: number): ModelInferAuditEntry => ({
  predictedAt: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, row)),
  requestId: 'v2-req',
  principal: 'svc-v2',
  method: 'ModelInfer',
  customerId: null,
  model: 'churn',
  modelVersion: '1',
  rowIndex: row,
  score: row === 1 ? null : 0.25 + row,
  featureSource: 'inline',
  outputs: { churn_probability: [0.25 + row], label: ['yes'], flags: [true, null] },
  traceId: null,
  spanId: null,
});

/** A segment file as a previous process left it. */
async function segmentOf(lines: readonly string[]): Promise<void> {
  await writeFile(path.join(dir, `000001767322245-${ID}.ndjson`), lines.map((line) => line + '\n').join(''));
}

describe('the audit spill with ModelInfer rows', () => {
  it('writes ModelInfer rows and reads the same rows back, next to Score rows', async () => {
    const spill = createAuditSpill({ logger }, { dir, maxBytes: 1_000_000 });
    const score: AuditEntry = {
      predictedAt: new Date(Date.UTC(2026, 0, 2)),
      requestId: 'score-req',
      principal: null,
      customerId: '7',
      model: 'clv',
      modelVersion: '1',
      score: 12.5,
      featureSource: 'store',
      traceId: null,
      spanId: null,
    };
    const rows = [inferEntry(0), inferEntry(1), score];
    expect(await spill.write(ID, rows)).toBe(3);
    const [segment] = await spill.segments();
    expect(await spill.read(segment!)).toEqual({ rows, unreadable: 0 });
  });

  it('reads a segment of the format before ModelInfer (no method) as Score rows', async () => {
    await segmentOf([
      '{"predictedAt":"2026-01-02T03:04:05.000Z","requestId":"r1","principal":"svc","customerId":"1",' +
        '"model":"churn","modelVersion":"1","score":0.5,"featureSource":"inline","traceId":null,"spanId":null}',
    ]);
    const spill = createAuditSpill({ logger }, { dir, maxBytes: 1_000_000 });
    const [segment] = await spill.segments();
    expect(await spill.read(segment!)).toEqual({
      rows: [
        {
          predictedAt: new Date('2026-01-02T03:04:05.000Z'),
          requestId: 'r1',
          principal: 'svc',
          customerId: '1',
          model: 'churn',
          modelVersion: '1',
          score: 0.5,
          featureSource: 'inline',
          traceId: null,
          spanId: null,
        },
      ],
      unreadable: 0,
    });
  });

  it.each<[string, Record<string, unknown>]>([
    ['a ModelInfer row with a customer', { customerId: '1' }],
    ['a ModelInfer row without outputs', { outputs: undefined }],
    ['outputs that are not arrays of values', { outputs: { churn_probability: [{}] } }],
    ['a negative row index', { rowIndex: -1 }],
    ['a score that is not a number', { score: '0.5' }],
    ['an unknown method', { method: 'ModelStreamInfer' }],
  ])('counts %s as unreadable', async (_, change) => {
    await segmentOf([JSON.stringify({ ...inferEntry(0), ...change }), JSON.stringify(inferEntry(2))]);
    const spill = createAuditSpill({ logger }, { dir, maxBytes: 1_000_000 });
    const [segment] = await spill.segments();
    expect(await spill.read(segment!)).toEqual({ rows: [inferEntry(2)], unreadable: 1 });
  });
});

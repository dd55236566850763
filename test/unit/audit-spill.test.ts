import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../server/src/audit/audit-entry.js';
import { createAuditSpill } from '../../server/src/audit/audit-spill.js';
import { createLogger } from '../../server/src/telemetry/logger.js';

const logger = createLogger({ level: 'silent' });
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-audit-spill-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const entry = (i: number): AuditEntry => ({
  predictedAt: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, i)),
  requestId: `req-${i}`,
  principal: i % 2 === 0 ? null : 'scorer',
  customerId: String(i),
  model: 'churn',
  modelVersion: '1',
  score: 0.1 + i / 1000,
  featureSource: 'inline',
  traceId: i % 2 === 0 ? null : '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: i % 2 === 0 ? null : '00f067aa0ba902b7',
});
const entries = (from: number, count: number) => Array.from({ length: count }, (_, i) => entry(from + i));
const ID_A = '00000000-0000-4000-8000-00000000000a';
const ID_B = '00000000-0000-4000-8000-00000000000b';

describe('the audit spill', () => {
  it('writes a segment as one NDJSON file and reads the same rows back', async () => {
    const spill = createAuditSpill({ logger }, { dir, maxBytes: 1_000_000 });
    const rows = entries(0, 5);
    expect(await spill.write(ID_A, rows)).toBe(5);

    const [segment, ...others] = await spill.segments();
    expect(others).toEqual([]);
    expect(segment).toMatchObject({ id: ID_A, bytes: spill.bytes });
    expect(path.basename(segment!.file)).toMatch(new RegExp(`^\\d{15}-${ID_A}\\.ndjson$`));
    expect(await spill.read(segment!)).toEqual({ rows, unreadable: 0 });

    await spill.remove(segment!);
    await spill.remove(segment!); // already gone is fine
    expect(spill.bytes).toBe(0);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses what does not fit under maxBytes: a prefix of the rows is written, the rest refused', async () => {
    const probe = createAuditSpill({ logger }, { dir: path.join(dir, 'probe'), maxBytes: 1_000_000 });
    await probe.write(ID_A, entries(0, 1));
    const rowBytes = probe.bytes;

    const spill = createAuditSpill({ logger }, { dir, maxBytes: Math.floor(rowBytes * 3.5) });
    expect(await spill.write(ID_A, entries(0, 2))).toBe(2);
    expect(await spill.write(ID_B, entries(2, 5))).toBe(1);
    expect(await spill.write(ID_B, entries(7, 1))).toBe(0);
    expect(spill.bytes).toBeLessThanOrEqual(rowBytes * 3.5);
    const segments = await spill.segments();
    expect(segments.map((s) => s.id)).toEqual([ID_A, ID_B]);
    expect((await spill.read(segments[1]!)).rows).toEqual(entries(2, 1));
  });

  it('finds the segments a previous process left, oldest first, and deletes half-written *.tmp files', async () => {
    const before = createAuditSpill({ logger }, { dir, maxBytes: 1_000_000 });
    await before.write(ID_B, entries(0, 2));
    await new Promise((resolve) => setTimeout(resolve, 5));
    await before.write(ID_A, entries(2, 3));
    await writeFile(path.join(dir, 'crashed-mid-write.ndjson.1234.tmp'), '{"requestId":');
    await writeFile(path.join(dir, 'README'), 'not a segment');

    const after = createAuditSpill({ logger }, { dir, maxBytes: 1_000_000 });
    const segments = await after.segments();
    expect(segments.map((s) => s.id)).toEqual([ID_B, ID_A]);
    expect(after.bytes).toBe(before.bytes);
    expect((await readdir(dir)).sort()).toEqual(
      [...segments.map((s) => path.basename(s.file)), 'README'].sort(),
    );
  });

  it('skips and counts a line that does not parse', async () => {
    const spill = createAuditSpill({ logger }, { dir, maxBytes: 1_000_000 });
    await spill.write(ID_A, entries(0, 2));
    const [segment] = await spill.segments();
    await writeFile(
      segment!.file,
      `${JSON.stringify(entry(0))}\n{"requestId":\n${JSON.stringify({ a: 1 })}\n`,
    );
    expect(await spill.read(segment!)).toEqual({ rows: [entry(0)], unreadable: 2 });
  });

  it('fails writes when the directory cannot be created, and lists nothing', async () => {
    const notADirectory = path.join(dir, 'file');
    await writeFile(notADirectory, '');
    const spill = createAuditSpill({ logger }, { dir: notADirectory, maxBytes: 1_000_000 });
    expect(await spill.segments()).toEqual([]);
    await expect(spill.write(ID_A, entries(0, 1))).rejects.toThrow(/ENOTDIR|EEXIST/);
    expect(spill.bytes).toBe(0);
  });
});

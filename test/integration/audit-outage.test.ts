import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClientError, Metadata, Status } from 'nice-grpc';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createScoringClient, type ScoringClient } from '../../client/src/scoring-client.js';
import { spawnServer, type ServerProcess } from '../helpers/server-process.js';
import { createSeededDatabase, startTestPostgres, type TestPostgres } from '../helpers/test-postgres.js';
import { SAMPLE_FEATURES } from '../helpers/sample-features.js';

/** The spill's bound (well above what a 10 s outage needs), exported for the spill-filling alert. */
const SPILL_MAX_BYTES = 64 * 1024 * 1024;

// This file stops and restarts its own Postgres, so it does not share the global one. The servers run as
// real processes with a small in-memory audit buffer, so an outage forces rows onto the spill directory.
let postgres: TestPostgres;
let databaseUrl: string;
let spillDir: string;
const servers: ServerProcess[] = [];

beforeAll(async () => {
  postgres = await startTestPostgres();
  databaseUrl = await createSeededDatabase(postgres.url, 'audit_outage', 10);
  spillDir = await mkdtemp(path.join(os.tmpdir(), 'ci-audit-outage-'));
});

afterAll(async () => {
  for (const server of servers) {
    if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGTERM');
    await server.exited;
  }
  await postgres?.destroy();
  if (spillDir) await rm(spillDir, { recursive: true, force: true });
});

interface RunningProcess {
  readonly process: ServerProcess;
  readonly client: ScoringClient;
  readonly metricsPort: number;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | string>;
}

async function startServer(): Promise<RunningProcess> {
  const server = spawnServer({
    DATABASE_URL: databaseUrl,
    GRPC_HOST: '127.0.0.1',
    GRPC_PORT: '0',
    DATABASE_CONNECT_TIMEOUT_MS: '1000',
    SHUTDOWN_GRACE_MS: '2000',
    AUDIT_MAX_BUFFERED_ROWS: '100',
    AUDIT_FLUSH_INTERVAL_MS: '50',
    AUDIT_SPILL_DIR: spillDir,
    AUDIT_SPILL_MAX_BYTES: String(SPILL_MAX_BYTES),
  });
  servers.push(server);
  const opened = await server.waitForLog('gRPC port open; starting');
  await server.waitForLog('serving');
  const client = createScoringClient(`127.0.0.1:${String(opened.port)}`, { retry: false });
  return {
    process: server,
    client,
    metricsPort: Number(opened.metricsPort),
    async stop() {
      client.close();
      server.child.kill('SIGTERM');
      return server.exited;
    },
  };
}

/** One Score call for one inline customer (no database involved), tagged with `requestId`. */
async function scoreOnce(client: ScoringClient, requestId: string): Promise<string> {
  try {
    const { results } = await client.score(
      {
        model: 'clv',
        modelVersion: '',
        customers: [{ customerId: '', features: SAMPLE_FEATURES }],
        reasonCodes: 0,
      },
      { metadata: Metadata({ 'x-request-id': requestId }), deadline: 5_000 },
    );
    return results[0]?.outcome?.$case === 'prediction' ? 'OK' : 'NO_PREDICTION';
  } catch (error) {
    if (error instanceof ClientError) return Status[error.code];
    throw error;
  }
}

/** Steady closed-loop load: `workers` loops, each calling, then pausing `pauseMs`, until stopped. */
function startLoad(client: ScoringClient, prefix: string, workers: number, pauseMs: number) {
  let running = true;
  let sent = 0;
  const ok: string[] = [];
  const failed = new Map<string, number>();
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      const requestId = `${prefix}-${sent++}`;
      const status = await scoreOnce(client, requestId);
      if (status === 'OK') ok.push(requestId);
      else failed.set(status, (failed.get(status) ?? 0) + 1);
      await sleep(pauseMs);
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return { sent, ok, failed: Object.fromEntries(failed) };
    },
  };
}

/** `ci_audit_*` samples of one scrape. */
async function auditMetrics(port: number) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const sample = (series: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? 0 : Number(line.slice(series.length + 1));
  };
  return {
    written: sample('ci_audit_rows_total{outcome="written"}'),
    spilled: sample('ci_audit_rows_total{outcome="spilled"}'),
    replayed: sample('ci_audit_rows_total{outcome="replayed"}'),
    dropped: sample('ci_audit_rows_total{outcome="dropped"}'),
    buffered: sample('ci_audit_buffered_rows'),
    spillBytes: sample('ci_audit_spill_bytes'),
    spillMaxBytes: sample('ci_audit_spill_max_bytes'),
  };
}

/** Audit rows per request id, for the request ids starting with `prefix`. */
async function rowsByRequestId(prefix: string): Promise<Map<string, number>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ request_id: string; n: number }>(
      `SELECT request_id, count(*)::int AS n FROM prediction_audit WHERE starts_with(request_id, $1)
       GROUP BY request_id`,
      [`${prefix}-`],
    );
    return new Map(rows.map((row) => [row.request_id, row.n]));
  } finally {
    await client.end();
  }
}

/** Every OK prediction has exactly one row; nothing else has any (all calls here are OK). */
function expectExactlyOnce(rows: Map<string, number>, ok: readonly string[]): void {
  const missing = ok.filter((id) => rows.get(id) !== 1);
  const duplicated = [...rows].filter(([, n]) => n !== 1);
  expect({ missing, duplicated, rows: rows.size }).toEqual({ missing: [], duplicated: [], rows: ok.length });
}

/**
 * Waits until the server's audit buffer and spill are empty and `expected` rows of requests named
 * `prefix…` are in the table; returns those rows' counts by request id.
 */
async function drainedRows(
  metricsPort: number,
  prefix: string,
  expected: number,
): Promise<Map<string, number>> {
  let rows = new Map<string, number>();
  await vi.waitFor(
    async () => {
      expect(await auditMetrics(metricsPort)).toMatchObject({ buffered: 0, spillBytes: 0 });
      rows = await rowsByRequestId(prefix);
      expect(rows.size).toBe(expected);
    },
    { timeout: 30_000, interval: 250 },
  );
  return rows;
}

const segmentFiles = async () => (await readdir(spillDir)).filter((name) => name.endsWith('.ndjson'));

describe('the prediction audit log across a Postgres outage', () => {
  it('spills to disk while Postgres is down and replays once it is back: every OK prediction has exactly one row', async ({
    annotate,
  }) => {
    const server = await startServer();
    const load = startLoad(server.client, 'outage', 4, 10);
    await sleep(2_000);
    await postgres.stop();
    await sleep(10_000);
    await postgres.start();
    await sleep(3_000);
    const { sent, ok, failed } = await load.stop();
    // Inline scoring does not need the database: the outage is invisible to callers.
    expect(failed).toEqual({});

    const rows = await drainedRows(server.metricsPort, 'outage', ok.length);
    expectExactlyOnce(rows, ok);
    const metrics = await auditMetrics(server.metricsPort);
    expect(metrics.spillMaxBytes).toBe(SPILL_MAX_BYTES);
    expect(metrics.spilled).toBeGreaterThan(0);
    expect(metrics.replayed).toBe(metrics.spilled);
    expect(metrics.dropped).toBe(0);
    expect(metrics.written + metrics.replayed).toBe(ok.length);
    expect(await segmentFiles()).toEqual([]);
    await annotate(JSON.stringify({ sent, ok: ok.length, rows: rows.size, ...metrics }));

    expect(await server.stop()).toBe(0);
  });

  it('spills what shutdown could not write, and the next process replays it once, even a segment presented twice', async ({
    annotate,
  }) => {
    const first = await startServer();
    await postgres.stop();
    const ok: string[] = [];
    for (let i = 0; i < 250; i++) {
      const requestId = `restart-${i}`;
      expect(await scoreOnce(first.client, requestId)).toBe('OK');
      ok.push(requestId);
    }
    expect(await first.stop()).toBe(0);
    const segments = await segmentFiles();
    expect(segments.length).toBeGreaterThan(1);

    // A process that died between committing a segment and deleting it leaves the segment behind; the
    // next one replays it again. Simulate it with a copy (same batch id, later name): it must add nothing.
    const [oldest] = segments.sort();
    const copy = oldest!.replace(/^\d{15}/, String(Date.now() + 60_000).padStart(15, '0'));
    await copyFile(path.join(spillDir, oldest!), path.join(spillDir, copy));
    const copied = (await readFile(path.join(spillDir, copy), 'utf8')).split('\n').filter(Boolean).length;

    await postgres.start();
    const second = await startServer();
    const rows = await drainedRows(second.metricsPort, 'restart', ok.length);
    expectExactlyOnce(rows, ok);
    const metrics = await auditMetrics(second.metricsPort);
    expect(metrics.dropped).toBe(0);
    // The copy's rows count as replayed (that is what a restarted process would see), but add no row.
    expect(metrics.replayed).toBe(ok.length + copied);
    expect(await segmentFiles()).toEqual([]);
    await annotate(
      JSON.stringify({ ok: ok.length, segments: segments.length, copied, rows: rows.size, ...metrics }),
    );
    expect(await second.stop()).toBe(0);
  });
});

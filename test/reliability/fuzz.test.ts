import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createModelAdminClient,
  KillSwitchMode,
  type ModelAdminClient,
} from '../../client/src/model-admin-client.js';
import { createScoringClient, type ScoringClient } from '../../client/src/scoring-client.js';
import { METHOD_ROLES } from '../../server/src/security/method-roles.js';
import { createHealthClient, ServingStatus, type HealthClient } from '../helpers/health-client.js';
import { RawGrpcClient } from '../helpers/raw-grpc-client.js';
import { spawnServer, type ServerProcess } from '../helpers/server-process.js';
import { cloneDatabase, dropDatabase } from '../helpers/test-postgres.js';
import { describeResult, runCampaign, type CampaignResult } from './fuzz-campaign.js';
import { fuzzTargets } from './fuzz-targets.js';

// Issue 9, item 5: at least 10,000 random and mutated protobuf messages to every RPC, bytes-level and
// field-level, and the server neither crashes nor answers INTERNAL/UNKNOWN, and is healthy afterwards.
// FUZZ_SEED replays a run (every failure prints it); FUZZ_MESSAGES changes the count per RPC; FUZZ_ONLY
// (part of a method path) fuzzes only the matching RPCs; FUZZ_SERVER_LOG names a file for the server's log.
const SEED = process.env.FUZZ_SEED ?? randomBytes(8).toString('hex');
const MESSAGES_PER_RPC = Number(process.env.FUZZ_MESSAGES ?? 10_000);
const ONLY = process.env.FUZZ_ONLY ?? '';
const CONCURRENCY = 64;
/** Generous: no call should need it; one that does shows up as DEADLINE_EXCEEDED in the histogram. */
const CALL_DEADLINE_MS = 30_000;

const database = `test_fuzz_${randomBytes(4).toString('hex')}`;
let server: ServerProcess;
let address: string;
let raw: RawGrpcClient;
const results: CampaignResult[] = [];

beforeAll(async () => {
  const databaseUrl = await cloneDatabase(inject('postgresUrl'), inject('templateDatabase'), database);
  // The default test configuration: plaintext, AUTH_MODE=none (every call reaches its handler).
  server = spawnServer({ DATABASE_URL: databaseUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0' });
  const serving = await server.waitForLog('serving');
  address = `127.0.0.1:${String(serving.port)}`;
  raw = new RawGrpcClient(address);
  process.stdout.write(`fuzz: FUZZ_SEED=${SEED}, ${MESSAGES_PER_RPC} messages per RPC\n`);
});

afterAll(async () => {
  raw?.close();
  if (results.length > 0)
    process.stdout.write(`fuzz (FUZZ_SEED=${SEED}):\n${results.map(describeResult).join('\n')}\n`);
  if (process.env.FUZZ_SERVER_LOG !== undefined && server !== undefined) {
    await writeFile(process.env.FUZZ_SERVER_LOG, server.logs.map((line) => JSON.stringify(line)).join('\n'));
  }
  if (server !== undefined && server.child.exitCode === null) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  await dropDatabase(inject('postgresUrl'), database);
});

const targets = fuzzTargets();

describe('fuzzing every RPC with random and mutated protobuf messages', () => {
  // Read-only RPCs first; administration last, so that a fuzzed kill switch does not hide the rest.
  const chosen = targets.filter((target) => target.path.includes(ONLY));
  const ordered = [...chosen.filter((t) => !t.changesState), ...chosen.filter((t) => t.changesState)];

  it.for(ordered.map((target) => [target.path, target] as const))(
    '%s answers no fuzzed message with INTERNAL or UNKNOWN',
    { timeout: 600_000 },
    async ([, target]) => {
      const result = await runCampaign(raw, target, {
        seed: SEED,
        messages: MESSAGES_PER_RPC,
        concurrency: CONCURRENCY,
        deadlineMs: CALL_DEADLINE_MS,
      });
      results.push(result);
      const shown = result.failures.slice(0, 5).map((failure) => ({ ...failure, seed: SEED }));
      expect(shown, `${result.failures.length} failing calls; FUZZ_SEED=${SEED}`).toEqual([]);
      expect(server.child.exitCode).toBeNull();
      expect(result.messages).toBeGreaterThanOrEqual(MESSAGES_PER_RPC);
    },
  );
});

describe('after the fuzzing', () => {
  let health: HealthClient;
  let admin: ModelAdminClient;
  let scoring: ScoringClient;
  beforeAll(() => {
    health = createHealthClient(address);
    admin = createModelAdminClient(address);
    scoring = createScoringClient(address, { retry: false });
  });
  afterAll(() => {
    health?.close();
    admin?.close();
    scoring?.close();
  });

  it('the server process is still running and logged no unexpected error', () => {
    expect(server.child.exitCode).toBeNull();
    expect(server.stderr()).not.toMatch(/Error|uncaught|unhandled/i);
    // INTERNAL is the status of an unexpected error, and the server logs each one ("call failed unexpectedly").
    const errors = server.logs.filter((line) => line.level === 'error' || line.level === 'fatal');
    expect(errors.slice(0, 5)).toEqual([]);
  });

  it('is SERVING and scores a valid request once the fuzzed administration is undone', async () => {
    expect((await health.check({ service: '' })).status).toBe(ServingStatus.SERVING);
    // The fuzzed admin RPCs may legitimately have switched models off or promoted the fuzz version.
    for (const model of ['churn', 'clv']) {
      await admin.setKillSwitch({ model, mode: KillSwitchMode.KILL_SWITCH_MODE_OFF, reason: '' });
      await admin.setDefaultVersion({ model, version: '1' });
      expect((await health.check({ service: model })).status).toBe(ServingStatus.SERVING);
      const { results: scored } = await scoring.score({
        model,
        modelVersion: '',
        customers: [{ customerId: '17', features: {} }],
        reasonCodes: 2,
      });
      expect(scored[0]?.outcome).toMatchObject({ $case: 'prediction', value: { model, modelVersion: '1' } });
    }
  });
});

it('fuzzes every method the server serves', () => {
  // METHOD_ROLES names every served RPC (test/unit/method-roles.test.ts checks it against the protos).
  expect(targets.map((target) => target.path).sort()).toEqual(Object.keys(METHOD_ROLES).sort());
});

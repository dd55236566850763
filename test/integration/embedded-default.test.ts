import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScoringClient } from '../../client/src/scoring-client.js';
import { freePort } from '../helpers/free-port.js';
import { spawnServer } from '../helpers/server-process.js';

// The quick start: `npm start` with no DATABASE_URL owns an embedded Postgres, migrates and seeds it once.
let dataDir: string;
let env: Record<string, string>;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'ci-quickstart-'));
  env = {
    GRPC_HOST: '127.0.0.1',
    GRPC_PORT: '0',
    EMBEDDED_POSTGRES_DIR: dataDir,
    EMBEDDED_POSTGRES_PORT: String(await freePort()),
    SEED_CUSTOMERS: '500',
    SHUTDOWN_GRACE_MS: '2000',
  };
});
afterAll(() => rm(dataDir, { recursive: true, force: true }));

async function scoreCustomer42(port: unknown) {
  const client = createScoringClient(`127.0.0.1:${String(port)}`, { retry: false });
  try {
    const [churn, clv] = await Promise.all(
      ['churn', 'clv'].map((model) =>
        client.score({
          model,
          modelVersion: '',
          customers: [{ customerId: '42', features: {} }],
          reasonCodes: 3,
        }),
      ),
    );
    return [churn!.results[0]!.outcome, clv!.results[0]!.outcome];
  } finally {
    client.close();
  }
}

describe('the embedded default (npm start without DATABASE_URL)', () => {
  it('starts Postgres, migrates, seeds once, serves by id, and stops Postgres with the server', async () => {
    const first = spawnServer(env);
    const serving = await first.waitForLog('serving', 120_000);
    expect(serving.database).toBe('embedded');
    expect(first.logs.find((line) => line.msg === 'seeded synthetic customers')).toMatchObject({
      customers: 500,
    });
    const [churn, clv] = await scoreCustomer42(serving.port);
    expect(churn).toMatchObject({ $case: 'prediction', value: { model: 'churn' } });
    expect(clv).toMatchObject({ $case: 'prediction', value: { model: 'clv' } });
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    // Second start: same data folder, nothing to seed, same answer.
    const second = spawnServer(env);
    const servingAgain = await second.waitForLog('serving', 120_000);
    expect(second.logs.some((line) => line.msg === 'seeded synthetic customers')).toBe(false);
    expect(await scoreCustomer42(servingAgain.port)).toEqual([churn, clv]);
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
    // No log line may carry the generated database password.
    const password = (await readFile(path.join(dataDir, 'password'), 'utf8')).trim();
    expect(JSON.stringify([...first.logs, ...second.logs])).not.toContain(password);
  });
});

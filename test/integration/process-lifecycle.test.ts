import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { ClientError, Status } from 'nice-grpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createScoringClient, type ScoreStreamRequest } from '../../client/src/scoring-client.js';
import { createHealthClient, ServingStatus } from '../helpers/health-client.js';
import { spawnServer } from '../helpers/server-process.js';
import { cloneDatabase, dropDatabase } from '../helpers/test-postgres.js';
import { toolPath } from '../helpers/tools.js';

const run = promisify(execFile);
let databaseUrl: string;
const database = `test_proc_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  databaseUrl = await cloneDatabase(inject('postgresUrl'), inject('templateDatabase'), database);
});
afterAll(() => dropDatabase(inject('postgresUrl'), database));

describe('the server process', () => {
  it('refuses a bad configuration before listening, naming the variable', async () => {
    const server = spawnServer({
      DATABASE_URL: databaseUrl,
      GRPC_PORT: 'fifty',
      MAX_CUSTOMERS_PER_REQUEST: '0',
    });
    expect(await server.exited).toBe(1);
    expect(server.stderr()).toMatch(/GRPC_PORT: .*got "fifty"/);
    expect(server.stderr()).toMatch(/MAX_CUSTOMERS_PER_REQUEST: /);
    expect(server.logs.some((line) => line.msg === 'gRPC port open; starting')).toBe(false);
  });

  it('reports SERVING to grpc-health-probe, drains on SIGTERM and exits 0', async () => {
    const server = spawnServer({
      DATABASE_URL: databaseUrl,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      SHUTDOWN_GRACE_MS: '3000',
    });
    const serving = await server.waitForLog('serving');
    const address = `127.0.0.1:${String(serving.port)}`;

    const probe = await run(toolPath('grpc-health-probe'), [`-addr=${address}`]);
    expect(probe.stdout + probe.stderr).toMatch(/status: SERVING/);

    // A health watcher sees SERVING, then NOT_SERVING when the drain starts, then its stream ends.
    const health = createHealthClient(address);
    const watched: number[] = [];
    const watching = (async () => {
      try {
        for await (const update of health.watch({ service: '' })) watched.push(update.status);
      } catch (error) {
        if (!(error instanceof ClientError)) throw error;
      }
    })();

    // A batch stream that is open across the shutdown is answered, then told to go elsewhere.
    const client = createScoringClient(address, { retry: false });
    let release: (() => void) | undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    async function* chunks(): AsyncIterable<ScoreStreamRequest> {
      yield {
        chunkId: 'a',
        model: 'churn',
        modelVersion: '',
        customers: [{ customerId: '1', features: {} }],
        reasonCodes: 0,
      };
      await gate; // hold the stream open until the server drains
    }
    const answered: string[] = [];
    const streaming = (async () => {
      try {
        for await (const response of client.scoreStream(chunks())) {
          answered.push(response.chunkId);
          server.child.kill('SIGTERM');
        }
        return 'OK';
      } catch (error) {
        return error instanceof ClientError ? Status[error.code] : String(error);
      }
    })();

    expect(await streaming).toBe('UNAVAILABLE');
    release?.();
    expect(answered).toEqual(['a']);
    expect(await server.exited).toBe(0);
    await watching;
    expect(watched[0]).toBe(ServingStatus.SERVING);
    expect(watched).toContain(ServingStatus.NOT_SERVING);
    expect(server.logs.map((line) => line.msg)).toEqual(expect.arrayContaining(['shutting down', 'stopped']));
    health.close();
    client.close();
  });
});

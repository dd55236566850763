import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/free-port.js';
import { spawnServer } from '../helpers/server-process.js';

// A quick start whose embedded Postgres cannot start says why and what to do in one line, and exits 1:
// no unhandled 'error' event, no stack trace.
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-embedded-errors-'));
  // Reachable by the postgres user (when run as root), so its cluster stays in here and goes with it.
  await chmod(dir, 0o755);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function failedStart(env: Record<string, string>) {
  const server = spawnServer({ GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', SEED_CUSTOMERS: '10', ...env });
  const code = await server.exited;
  const lines = server.stderr().trimEnd().split('\n');
  const logs = JSON.stringify(server.logs);
  return { code, lines, logs };
}

describe('start-up failures of the embedded Postgres', () => {
  it('a port in use: one line naming the port and EMBEDDED_POSTGRES_PORT, exit 1', async () => {
    const port = await freePort();
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    try {
      const { code, lines, logs } = await failedStart({
        EMBEDDED_POSTGRES_DIR: path.join(dir, 'port-in-use'),
        EMBEDDED_POSTGRES_PORT: String(port),
      });
      expect(code).toBe(1);
      expect(lines).toEqual([
        `customer-intelligence: embedded Postgres: port ${port} on 127.0.0.1 is in use; stop what listens ` +
          'there, or set EMBEDDED_POSTGRES_PORT to a free port',
      ]);
      expect(logs).not.toMatch(/\bat .*\(.*:\d+:\d+\)/);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('a data folder that is a file: one line naming it and EMBEDDED_POSTGRES_DIR, exit 1', async () => {
    const file = path.join(dir, 'not-a-folder');
    await writeFile(file, '');
    const { code, lines, logs } = await failedStart({
      EMBEDDED_POSTGRES_DIR: file,
      EMBEDDED_POSTGRES_PORT: String(await freePort()),
    });
    expect(code).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^customer-intelligence: embedded Postgres: cannot prepare its data folder ${file} \\(E[A-Z]+: .*\\); ` +
          'set EMBEDDED_POSTGRES_DIR to a folder this user can write$',
      ),
    );
    expect(logs).not.toMatch(/\bat .*\(.*:\d+:\d+\)/);
  });
});

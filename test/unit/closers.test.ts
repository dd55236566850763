import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createClosers } from '../../server/src/lifecycle/closers.js';
import { createLogger } from '../../server/src/telemetry/logger.js';

/** A logger whose lines are kept, parsed, for assertions. */
function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), lines };
}

describe('createClosers', () => {
  it('closes in reverse order of registration, each close finished before the next starts', async () => {
    const { logger } = capturingLogger();
    const closers = createClosers(logger);
    const events: string[] = [];
    for (const name of ['pool', 'audit log', 'grpc server']) {
      closers.register(name, async () => {
        events.push(`${name} closing`);
        await sleep(5);
        events.push(`${name} closed`);
      });
    }
    await closers.closeAll();
    expect(events).toEqual([
      'grpc server closing',
      'grpc server closed',
      'audit log closing',
      'audit log closed',
      'pool closing',
      'pool closed',
    ]);
  });

  it('logs a close that throws or times out, and still runs the others', async () => {
    const { logger, lines } = capturingLogger();
    const closers = createClosers(logger);
    const closed: string[] = [];
    closers.register('embedded postgres', () => void closed.push('embedded postgres'));
    closers.register('stuck pool', () => new Promise<never>(() => undefined), { timeoutMs: 20 });
    closers.register('watcher', () => {
      throw new Error('already gone');
    });
    closers.register('grpc server', () => void closed.push('grpc server'));

    await expect(closers.closeAll()).resolves.toBeUndefined();
    expect(closed).toEqual(['grpc server', 'embedded postgres']);
    const failures = lines.filter((line) => line.msg === 'shutdown step failed');
    expect(failures.map((line) => line.step)).toEqual(['watcher', 'stuck pool']);
    expect(failures.map((line) => (line.err as { message: string }).message)).toEqual([
      'already gone',
      'timed out after 20 ms',
    ]);
  });

  it('runs the sequence once, however many times closeAll is called', async () => {
    const closers = createClosers(capturingLogger().logger);
    let closes = 0;
    closers.register('pool', async () => {
      await sleep(5);
      closes++;
    });
    await Promise.all([closers.closeAll(), closers.closeAll()]);
    await closers.closeAll();
    expect(closes).toBe(1);
  });

  it('closes at once what is registered after closing has begun', async () => {
    const closers = createClosers(capturingLogger().logger);
    await closers.closeAll();
    let closed = false;
    closers.register('late watcher', () => {
      closed = true;
    });
    await sleep(0);
    expect(closed).toBe(true);
  });
});

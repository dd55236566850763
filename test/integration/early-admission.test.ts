import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { createChannel, createClient, ClientError, Status } from 'nice-grpc';
import { HealthDefinition } from 'nice-grpc-server-health';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelAdminServiceDefinition } from '../../gen/customer_intelligence/admin/v1/model_admin.js';
import { hashApiKey } from '../../server/src/security/api-key-authenticator.js';
import { startTestServer, type TestServer } from './setup/test-server.js';

// The early admission (server/src/grpc/early-admission.ts) answers as a call's headers arrive. These calls
// are made with a bare HTTP/2 client that sends the headers and then nothing: a server that waited for the
// request body before authenticating would not answer at all.

const REGISTER = '/customer_intelligence.admin.v1.ModelAdminService/RegisterModelVersion';
const MAX_STREAMS = 3;

let dir: string;
let t: TestServer;
const keys = {
  scorer: `ci_${randomBytes(24).toString('base64url')}`,
  batch: `ci_${randomBytes(24).toString('base64url')}`,
};

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-early-'));
  await writeFile(
    path.join(dir, 'keys.json'),
    JSON.stringify([
      { name: 'svc-scorer', sha256: hashApiKey(keys.scorer), roles: ['scorer'] },
      { name: 'job-batch', sha256: hashApiKey(keys.batch), roles: ['batch'] },
    ]),
  );
  t = await startTestServer({
    AUTH_MODE: 'required',
    API_KEYS_FILE: path.join(dir, 'keys.json'),
    MAX_STREAMS: String(MAX_STREAMS),
  });
});
afterAll(async () => {
  await t?.close();
  await rm(dir, { recursive: true, force: true });
});

/**
 * Opens a gRPC call with `headers` and sends a message's length prefix announcing `announcedBytes`, but
 * not its body; resolves with the grpc-status and grpc-message the server answers with.
 */
async function headersOnly(
  method: string,
  headers: Record<string, string>,
  announcedBytes: number,
): Promise<{ status: number; message: string; reason: string | undefined }> {
  const session = http2.connect(`http://${t.address}`);
  try {
    const stream = session.request({
      ':method': 'POST',
      ':path': method,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(announcedBytes, 1);
    stream.write(prefix);
    return await new Promise((resolve, reject) => {
      const answer = (fields: http2.IncomingHttpHeaders) => {
        if (fields['grpc-status'] === undefined) return;
        resolve({
          status: Number(fields['grpc-status']),
          message: decodeURIComponent(String(fields['grpc-message'] ?? '')),
          reason: fields['ci-error-reason'] as string | undefined,
        });
      };
      stream.on('response', answer); // a trailers-only answer
      stream.on('trailers', answer);
      stream.on('error', reject);
      stream.resume();
    });
  } finally {
    session.close();
  }
}

describe('early admission: refused before the request is read', () => {
  it('refuses an anonymous 4 MiB RegisterModelVersion with UNAUTHENTICATED before its body is sent', async () => {
    const answer = await headersOnly(REGISTER, {}, 4 * 1024 * 1024);
    expect(answer.status).toBe(Status.UNAUTHENTICATED);
    expect(answer.message).toMatch(/credentials required/);
    expect(answer.reason).toBe('ERR_UNAUTHENTICATED');
  });

  it('refuses a wrong API key the same way', async () => {
    const answer = await headersOnly(REGISTER, { 'x-api-key': 'ci_not-a-key' }, 4 * 1024 * 1024);
    expect(answer.status).toBe(Status.UNAUTHENTICATED);
    expect(answer.message).toMatch(/API key is not valid/);
  });

  it('refuses a scorer key on the admin API with PERMISSION_DENIED before its body is sent', async () => {
    const answer = await headersOnly(REGISTER, { 'x-api-key': keys.scorer }, 4 * 1024 * 1024);
    expect(answer.status).toBe(Status.PERMISSION_DENIED);
    expect(answer.message).toMatch(/svc-scorer/);
    expect(answer.message).toMatch(/admin/);
  });

  // Every RPC of the admin service, from its definition: a new one is covered without editing this test.
  const adminPaths = Object.values(ModelAdminServiceDefinition.methods).map(
    (method) => `/${ModelAdminServiceDefinition.fullName}/${method.name}`,
  );
  it.each(adminPaths)('refuses scorer and batch keys on %s with PERMISSION_DENIED', async (adminPath) => {
    for (const [role, key] of Object.entries(keys)) {
      const answer = await headersOnly(adminPath, { 'x-api-key': key }, 64);
      expect({ role, status: answer.status, reason: answer.reason }).toEqual({
        role,
        status: Status.PERMISSION_DENIED,
        reason: 'ERR_PERMISSION_DENIED',
      });
    }
  });

  it('holds a health check to its own message limit, far below the API one', async () => {
    const answer = await headersOnly('/grpc.health.v1.Health/Check', {}, 1024 * 1024);
    expect(answer.status).toBe(Status.RESOURCE_EXHAUSTED);
    expect(answer.message).toMatch(/larger than max/);
    // A health check of a normal size is still answered.
    const channel = createChannel(t.address);
    try {
      const health = createClient(HealthDefinition, channel);
      expect((await health.check({ service: '' })).status).toBeDefined();
    } finally {
      channel.close();
    }
  });
});

describe('early admission: open streams are capped (MAX_STREAMS)', () => {
  it('refuses the stream beyond the cap with RESOURCE_EXHAUSTED, and takes one again once a stream ends', async () => {
    const channel = createChannel(t.address);
    const health = createClient(HealthDefinition, channel);
    const watchers = Array.from({ length: MAX_STREAMS }, () => new AbortController());
    try {
      // Each Watch answers with the current status at once: reading it shows the stream is open.
      const open = watchers.map(async (watcher) => {
        const stream = health.watch({ service: '' }, { signal: watcher.signal })[Symbol.asyncIterator]();
        await stream.next();
        return stream;
      });
      await Promise.all(open);

      const refused = await health
        .watch({ service: '' })
        [Symbol.asyncIterator]()
        .next()
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(refused).toBeInstanceOf(ClientError);
      expect((refused as ClientError).code).toBe(Status.RESOURCE_EXHAUSTED);
      expect((refused as ClientError).details).toMatch(/limit of 3 streams open \(MAX_STREAMS\)/);

      watchers[0]!.abort();
      // The server frees the place when it sees the cancellation; the next stream is taken then.
      const next = new AbortController();
      watchers.push(next);
      await expect
        .poll(
          () =>
            health
              .watch({ service: '' }, { signal: next.signal })
              [Symbol.asyncIterator]()
              .next()
              .then(
                () => 'open',
                () => 'refused',
              ),
          { timeout: 5_000 },
        )
        .toBe('open');
    } finally {
      for (const watcher of watchers) watcher.abort();
      channel.close();
    }
  });
});

import { Metadata as GrpcMetadata } from '@grpc/grpc-js';
import { createChannel, createClient, Metadata, ServerError, Status, type Client } from 'nice-grpc';
import { HealthDefinition } from 'nice-grpc-server-health';
import { afterEach, describe, expect, it } from 'vitest';
import { callPipeline } from '../../server/src/grpc/call-pipeline.js';
import { GrpcHost } from '../../server/src/grpc/grpc-host.js';
import type { CallPlanContext } from '../../server/src/grpc/call-plan.js';
import { tolerateMalformedRequests } from '../../server/src/grpc/malformed-request.js';
import { admission } from '../../server/src/grpc/stages/admission.js';
import { errorMapper } from '../../server/src/grpc/stages/error-mapping.js';
import { callerTrace } from '../../server/src/grpc/stages/trace-context.js';
import { Lifecycle } from '../../server/src/lifecycle/lifecycle.js';
import { ANONYMOUS } from '../../server/src/security/principal.js';
import { createLogger } from '../../server/src/telemetry/logger.js';
import { errors } from '../../server/src/errors.js';
import type { CallContext } from 'nice-grpc-common';
import { HealthCheckResponse_ServingStatus as ServingStatus } from 'nice-grpc-server-health/lib/proto/grpc/health/v1/health.js';

// A real GrpcHost on 127.0.0.1:0 and a real client: what the unary door of the call pipeline hands a
// handler (metadata read in place, header and trailer, the plan, the signal) and what the client gets back.
const lifecycle = new Lifecycle();
lifecycle.markServing();
const pipeline = callPipeline({
  meter: undefined,
  trace: callerTrace,
  admit: admission([
    (_call, _context, admitted) => {
      admitted.principal = ANONYMOUS;
      return undefined;
    },
  ]),
  mapError: errorMapper({ logger: createLogger({ level: 'silent' }), lifecycle }),
});

type Check = (context: CallContext & CallPlanContext) => Promise<void>;
let onCheck: Check = () => Promise.resolve();
let host: GrpcHost | undefined;
let client: (Client<typeof HealthDefinition> & { close(): void }) | undefined;

async function serve(): Promise<Client<typeof HealthDefinition>> {
  host = new GrpcHost();
  host.add(
    tolerateMalformedRequests(HealthDefinition),
    {
      async check(_request, context) {
        await onCheck(context);
        return { status: ServingStatus.SERVING };
      },
      // eslint-disable-next-line require-yield
      async *watch() {
        throw new ServerError(Status.UNIMPLEMENTED, 'not here');
      },
    },
    { pipeline },
  );
  const port = await host.listen('127.0.0.1:0');
  const channel = createChannel(`127.0.0.1:${port}`);
  client = Object.assign(createClient(HealthDefinition, channel), { close: () => channel.close() });
  return client;
}

afterEach(() => {
  client?.close();
  host?.forceShutdown();
  onCheck = () => Promise.resolve();
});

describe('GrpcHost (unary calls)', () => {
  it('hands the handler the request metadata, the plan, and sends its header and trailer', async () => {
    let seen: Record<string, unknown> = {};
    onCheck = (context) => {
      seen = {
        requestId: context.metadata.get('x-request-id'),
        all: context.metadata.getAll('x-tag'),
        binary: Buffer.from(context.metadata.get('x-blob-bin') as Uint8Array).toString(),
        has: context.metadata.has('x-request-id'),
        missing: context.metadata.get('x-none'),
        keys: [...context.metadata].map(([key]) => key).filter((key) => key.startsWith('x-')),
        principal: context.plan.principal.via,
        peer: context.peer,
      };
      context.header.set('x-header', 'h');
      context.trailer.set('x-trailer', 't');
      return Promise.resolve();
    };
    const health = await serve();
    let header: Metadata | undefined;
    let trailer: Metadata | undefined;
    const response = await health.check(
      { service: '' },
      {
        metadata: Metadata({
          'x-request-id': 'r-1',
          'x-tag': ['a', 'b'],
          'x-blob-bin': Buffer.from('bytes'),
        }),
        onHeader: (received) => (header = received),
        onTrailer: (received) => (trailer = received),
      },
    );
    expect(response.status).toBe(ServingStatus.SERVING);
    expect(seen).toMatchObject({
      requestId: 'r-1',
      all: ['a, b'], // HTTP/2 joins a repeated header, as grpc-js (and nice-grpc before) hand it over
      binary: 'bytes',
      has: true,
      missing: undefined,
      keys: ['x-request-id', 'x-tag', 'x-blob-bin'],
      principal: 'anonymous',
    });
    expect(seen.peer).toMatch(/^(ipv4:)?127\.0\.0\.1:\d+$/);
    expect(header?.get('x-header')).toBe('h');
    expect(trailer?.get('x-trailer')).toBe('t');
  });

  it('writes through the metadata view onto the grpc-js metadata', () => {
    const grpc = new GrpcMetadata();
    grpc.set('a', '1');
    // The view is internal to the context; reach it the way the pipeline does, through a context.
    const fakeCall = { metadata: grpc, cancelled: false, once: () => undefined, getPeer: () => 'p' };
    return import('../../server/src/grpc/call-context.js').then(({ UnaryCallContext }) => {
      const context = new UnaryCallContext(fakeCall as never);
      context.metadata.set('b', ['2', '3']);
      context.metadata.append('a', '4');
      context.metadata.delete('missing');
      expect(grpc.get('a')).toEqual(['1', '4']);
      expect(grpc.get('b')).toEqual(['2', '3']);
      expect(context.grpcTrailer()).toBeUndefined();
      context.trailer.set('t', 'v');
      expect(context.grpcTrailer()?.get('t')).toEqual(['v']);
    });
  });

  it('stops aborting the signal once the handler has answered', async () => {
    const { EventEmitter } = await import('node:events');
    const { UnaryCallContext } = await import('../../server/src/grpc/call-context.js');
    const call = Object.assign(new EventEmitter(), { metadata: new GrpcMetadata(), cancelled: false });
    const answered = new UnaryCallContext(call as never);
    const { signal } = answered;
    answered.finish();
    call.emit('cancelled'); // grpc-js reports it when the finished call's stream closes
    expect(signal.aborted).toBe(false);
    expect(call.listenerCount('cancelled')).toBe(0);

    const running = new UnaryCallContext(call as never);
    const runningSignal = running.signal;
    call.emit('cancelled');
    expect(runningSignal.aborted).toBe(true);
  });

  it('maps what the handler throws to its status, with the reason trailer', async () => {
    onCheck = () => Promise.reject(errors.invalidArgument('service', 'no such service'));
    const health = await serve();
    let trailer: Metadata | undefined;
    const failure = await health
      .check({ service: 'x' }, { onTrailer: (received) => (trailer = received) })
      .catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: Status.INVALID_ARGUMENT });
    expect((failure as Error).message).toContain('no such service');
    expect(trailer?.get('ci-error-reason')).toBe('ERR_INVALID_ARGUMENT');
  });

  it('aborts the signal when the client cancels a call in flight', async () => {
    let aborted: Promise<void> | undefined;
    let entered: () => void = () => undefined;
    const inHandler = new Promise<void>((resolve) => (entered = resolve));
    onCheck = (context) => {
      aborted = new Promise((resolve) => context.signal.addEventListener('abort', () => resolve()));
      entered();
      return aborted;
    };
    const health = await serve();
    const controller = new AbortController();
    const call = health
      .check({ service: '' }, { signal: controller.signal })
      .catch((error: unknown) => error);
    await inHandler;
    controller.abort();
    await aborted; // the handler saw the cancellation (the test would time out otherwise)
    expect(await call).toMatchObject({ name: 'AbortError' });
  });
});

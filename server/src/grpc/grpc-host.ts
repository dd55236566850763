import { createRequire } from 'node:module';
import {
  Server,
  ServerCredentials,
  status as grpcStatus,
  type ChannelOptions,
  type Metadata as GrpcMetadata,
  type ServerInterceptor,
  type StatusObject,
  type ServerUnaryCall,
  type ServiceDefinition,
  type UntypedHandleCall,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import type { CompatServiceDefinition, ServiceImplementation, TsProtoServiceDefinition } from 'nice-grpc';
import { ServerError, composeServerMiddleware, type ServerMiddleware } from 'nice-grpc-common';
import { UnaryCallContext } from './call-context.js';
import type { CallPipeline, UnaryHandler } from './call-pipeline.js';
import type { CallPlanContext } from './call-plan.js';
import type { GuardedCall } from './stages/admission.js';

/** What a service's calls go through: the pipeline, and for its streams what comes after it. */
export interface Route {
  readonly pipeline: CallPipeline;
  /** A nice-grpc middleware after the pipeline, for stream calls only (e.g. `end-on-drain.ts`). */
  readonly streams?: ServerMiddleware<never> | undefined;
}

type StreamHandlerFactory = (
  definition: { path: string; requestStream: boolean; responseStream: boolean; options: object },
  implementation: (request: unknown, context: unknown) => unknown,
  middleware: ServerMiddleware<never>,
) => UntypedHandleCall;

// nice-grpc's own stream handlers (reading a request stream as an async iterable, writing responses with
// backpressure, ending on cancel): not part of its public API, so loaded by path and typed here. The
// version is pinned by package-lock.json and the stream tests pin their behaviour.
const require = createRequire(import.meta.url);
const { createServerStreamingMethodHandler } =
  require('nice-grpc/lib/server/handleServerStreamingCall.js') as {
    createServerStreamingMethodHandler: StreamHandlerFactory;
  };
const { createBidiStreamingMethodHandler } = require('nice-grpc/lib/server/handleBidiStreamingCall.js') as {
  createBidiStreamingMethodHandler: StreamHandlerFactory;
};
const { createClientStreamingMethodHandler } =
  require('nice-grpc/lib/server/handleClientStreamingCall.js') as {
    createClientStreamingMethodHandler: StreamHandlerFactory;
  };

/**
 * The gRPC server: a grpc-js `Server` whose every RPC goes through a {@link CallPipeline}.
 *
 * Unary calls — the online hot path — are handled here directly: grpc-js hands over the decoded request,
 * the pipeline runs as one async function, and the response or status goes back through grpc-js's
 * callback. What nice-grpc's server did for each of them (an abort controller and three listeners, copies of
 * the metadata both ways, two async generators around the handler) cost more than the call's own work
 * (bench/results/perf-pinned.md). Stream calls, where that is paid once per stream, keep nice-grpc's
 * stream handlers with the pipeline as their middleware.
 */
export class GrpcHost {
  private readonly server: Server;
  private bound = false;

  constructor(options: ChannelOptions & { interceptors?: ServerInterceptor[] } = {}) {
    this.server = new Server(options);
  }

  /**
   * Adds a service (a ts-proto definition, or a grpc-js one such as server reflection's) with its
   * implementation, each call through `route`.
   */
  add<Definition extends CompatServiceDefinition, Context = CallPlanContext>(
    definition: Definition,
    implementation: ServiceImplementation<Definition, Context>,
    route: Route,
  ): void {
    if (this.bound) throw new Error('GrpcHost.add() after listen()');
    const grpcDefinition = toGrpcJs(definition);
    const handlers: Record<string, UntypedHandleCall> = {};
    for (const [key, method] of Object.entries(grpcDefinition)) {
      const { path, requestStream, responseStream } = method;
      const handle = (implementation as Record<string, (request: unknown, context: unknown) => unknown>)[key];
      if (handle === undefined) throw new Error(`${path}: no implementation`);
      const call: GuardedCall = {
        method: { path, requestStream, responseStream, options: optionsOf(definition, key) },
        requestStream,
        responseStream,
      };
      handlers[key] =
        !requestStream && !responseStream
          ? unaryHandler(call, handle.bind(implementation) as UnaryHandler, route.pipeline)
          : streamHandler(call, handle.bind(implementation), route);
    }
    this.server.addService(grpcDefinition, handlers);
  }

  /** Binds `address` ("host:port", port 0 = any) and returns the port. */
  listen(
    address: string,
    credentials: ServerCredentials = ServerCredentials.createInsecure(),
  ): Promise<number> {
    this.bound = true;
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, credentials, (error, port) => (error ? reject(error) : resolve(port)));
    });
  }

  /** No new calls; resolves when the calls in flight have ended. */
  shutdown(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.tryShutdown((error) => (error ? reject(error) : resolve()));
    });
  }

  /** Cancels every call and closes every connection now. */
  forceShutdown(): void {
    this.server.forceShutdown();
  }
}

function unaryHandler(call: GuardedCall, handle: UnaryHandler, pipeline: CallPipeline) {
  return (grpcCall: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    const context = new UnaryCallContext(grpcCall);
    pipeline.unary(call, grpcCall.request, context, handle).then(
      (response) => {
        context.finish();
        context.sendHeader();
        callback(null, response, context.grpcTrailer());
      },
      (error: unknown) => {
        context.finish();
        context.sendHeader();
        callback(statusOf(call.method.path, error, context.grpcTrailer()));
      },
    );
  };
}

function streamHandler(
  call: GuardedCall,
  handle: (request: unknown, context: unknown) => unknown,
  route: Route,
): UntypedHandleCall {
  const middleware =
    route.streams === undefined
      ? (route.pipeline.streams as ServerMiddleware<never>)
      : composeServerMiddleware(route.pipeline.streams as ServerMiddleware<never>, route.streams);
  const { method, requestStream, responseStream } = call;
  const definition = { path: method.path, requestStream, responseStream, options: method.options };
  const create = requestStream
    ? responseStream
      ? createBidiStreamingMethodHandler
      : createClientStreamingMethodHandler
    : createServerStreamingMethodHandler;
  return create(definition, handle, middleware);
}

/**
 * The status of a failed unary call, as nice-grpc's stream handlers make it: the pipeline's error mapping
 * has turned whatever was thrown into a ServerError, so the other two cases are what it could not see.
 */
function statusOf(path: string, error: unknown, trailer: GrpcMetadata | undefined): Partial<StatusObject> {
  const status: Partial<StatusObject> =
    error instanceof ServerError
      ? { code: error.code, details: error.details }
      : error instanceof Error && error.name === 'AbortError'
        ? { code: grpcStatus.CANCELLED, details: 'The operation was cancelled' }
        : unexpected(path, error);
  if (trailer !== undefined) status.metadata = trailer;
  return status;
}

function unexpected(path: string, error: unknown): Partial<StatusObject> {
  process.emitWarning(
    `${path}: uncaught error in a server method: ${error instanceof Error ? error.stack : String(error)}`,
  );
  return { code: grpcStatus.UNKNOWN, details: 'Unknown server error occurred' };
}

/** A grpc-js service definition of `definition` (a grpc-js one is already). */
function toGrpcJs(definition: CompatServiceDefinition): ServiceDefinition {
  if (!isTsProto(definition)) return definition as ServiceDefinition;
  const grpcDefinition: Record<string, ServiceDefinition[string]> = {};
  for (const [key, method] of Object.entries(definition.methods)) {
    const path = `/${definition.fullName}/${method.name}`;
    const { requestType, responseType } = method;
    const complete = (value: unknown): unknown => responseType.fromPartial?.(value) ?? value;
    grpcDefinition[key] = {
      path,
      requestStream: method.requestStream,
      responseStream: method.responseStream,
      requestDeserialize: (bytes: Buffer): unknown => requestType.decode(bytes),
      requestSerialize: () => {
        throw new Error(`${path}: a server does not encode requests`);
      },
      // A view on the encoder's bytes, not a copy of them.
      responseSerialize: (value: unknown) => {
        const bytes = encodeWithSharedWriter(responseType, complete(value));
        return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      },
      responseDeserialize: () => {
        throw new Error(`${path}: a server does not decode responses`);
      },
    };
  }
  return grpcDefinition;
}

/**
 * One protobuf writer for every response: a new `BinaryWriter` per message grew its buffer from nothing and
 * rebuilt its DataView each time (protobuf's `ensureCapacity` was among the largest items of a call's
 * profile). Encoding is synchronous, so one writer serves every call; `finish()` returns a copy of the
 * bytes and resets it. If an encoder throws halfway, the writer is replaced rather than reused mid-message.
 */
let sharedWriter = new BinaryWriter();

function encodeWithSharedWriter(
  // ts-proto's encode takes the writer to write into as its second argument; nice-grpc's type leaves it out.
  type: { encode(message: unknown, writer?: BinaryWriter): { finish(): Uint8Array } },
  message: unknown,
): Uint8Array {
  try {
    return type.encode(message, sharedWriter).finish();
  } catch (error) {
    sharedWriter = new BinaryWriter();
    throw error;
  }
}

function isTsProto(definition: CompatServiceDefinition): definition is TsProtoServiceDefinition {
  return 'fullName' in definition && 'methods' in definition;
}

function optionsOf(definition: CompatServiceDefinition, key: string): object {
  return isTsProto(definition) ? (definition.methods[key]?.options ?? {}) : {};
}

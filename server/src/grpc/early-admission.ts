import {
  Metadata,
  ServerInterceptingCall,
  type ServerInterceptor,
  type ServerMethodDefinition,
  type StatusObject,
} from '@grpc/grpc-js';
import type { CallContext } from 'nice-grpc-common';
import { errors, AppError } from '../errors.js';
import { GrpcMetadataView, rememberPrincipal } from './call-context.js';
import { InFlightLimit } from './in-flight-limit.js';
import type { Admission, Guard, GuardedCall, SyncGuard } from './stages/admission.js';
import { ERROR_REASON_TRAILER, toWireError } from './wire-error.js';

/** Options for {@link earlyAdmission}. */
export interface EarlyAdmissionOptions {
  /** MAX_IN_FLIGHT: unary calls of `shedPaths` in flight beyond which new ones are refused. */
  readonly maxInFlight: number;
  /** MAX_STREAMS: stream calls (of any service, health Watch included) open at once beyond which new ones are refused. */
  readonly maxStreams: number;
  /** REQUEST_TIMEOUT_MS: the deadline of a call whose client sent none (the deadline guard caps every call). */
  readonly requestTimeoutMs: number;
  /** Full paths (`/package.Service/Method`) of the unary methods that may be shed. */
  readonly shedPaths: ReadonlySet<string>;
  /**
   * The authentication and authorization guards, run as the headers arrive; undefined when every call is
   * anonymous (`AUTH_MODE=none`).
   */
  readonly identify: { readonly authenticate: Guard; readonly authorize: SyncGuard } | undefined;
  /** The largest request message a method takes, in bytes (grpc-js's own limit is the largest of them). */
  readonly messageLimit: (path: string) => number;
  /** Called for every call refused here, with its status code (metrics). */
  readonly onRefused: (call: GuardedCall, code: number) => void;
}

/**
 * The first look at every call, as a grpc-js interceptor: it runs when the call's headers arrive, before
 * its message is read, and before the call pipeline is involved. Whatever it refuses costs no decoding
 * and no buffering of the request body.
 *
 * - **Load shedding** of the unary API calls (see {@link InFlightLimit}): beyond MAX_IN_FLIGHT, or when the
 *   call's deadline (the client's, or REQUEST_TIMEOUT_MS) is nearer than the saturated server could answer,
 *   the call is refused at once with RESOURCE_EXHAUSTED (`ERR_OVERLOADED`, which clients retry with backoff
 *   or elsewhere). Under overload every excess call costs a refusal, and refusals costing a fifth of a served
 *   call took a third of the goodput at twice the capacity (`test/reliability/overload.test.ts`). It runs
 *   first, so an overloaded server refuses unauthenticated calls with RESOURCE_EXHAUSTED too.
 * - **A cap on open streams** (MAX_STREAMS): each one holds memory and a share of the event loop for as long
 *   as its client likes, health Watch included, so the next one is refused with RESOURCE_EXHAUSTED.
 * - **Authentication and authorization**: a caller without valid credentials, or without a role the method
 *   table allows, is refused before its request is read — a multi-MiB RegisterModelVersion body from
 *   nobody is never buffered. The principal is handed to the call pipeline's authentication guard
 *   ({@link earlyPrincipal}), which does not verify the credentials again for unary calls.
 * - **Per-method message size**: a method's own limit (`messageLimit`) replaces grpc-js's server-wide one
 *   for the call, so that e.g. a health check cannot send the megabytes a model upload may.
 */
export function earlyAdmission(options: EarlyAdmissionOptions): ServerInterceptor {
  const { requestTimeoutMs, shedPaths, onRefused, identify, messageLimit } = options;
  const limit = new InFlightLimit({ maxInFlight: options.maxInFlight });
  let openStreams = 0;
  // What the guards look at, one per method.
  const guardedCalls = new Map<string, GuardedCall>();
  const guardedCall = ({ path, requestStream, responseStream }: ServerMethodDefinition<unknown, unknown>) => {
    const call: GuardedCall = {
      method: { path, requestStream, responseStream, options: {} },
      requestStream,
      responseStream,
    };
    guardedCalls.set(path, call);
    return call;
  };
  // Built once: a refusal must cost far less than serving, and a stack per refusal is a measurable part.
  const refusals = {
    overloaded: refusal(errors.overloaded({ maxInFlight: options.maxInFlight })),
    'too-busy-for-deadline': refusal(errors.overloaded('deadline-too-near')),
    streams: refusal(errors.streamLimit(options.maxStreams)),
  };

  return (method, call) => {
    const { path } = method;
    const streaming = method.requestStream || method.responseStream;
    const capped = !streaming && shedPaths.has(path);
    const guarded = guardedCalls.get(path) ?? guardedCall(method);
    limitIncomingMessages(call, messageLimit(path));
    let holds: 'nothing' | 'in-flight' | 'stream' = 'nothing';
    const release = () => {
      if (holds === 'in-flight') limit.ended();
      else if (holds === 'stream') openStreams--;
      holds = 'nothing';
    };
    const refuse = (status: StatusObject) => {
      release();
      onRefused(guarded, status.code);
      call.sendStatus(status); // grpc-js copies the trailer
    };
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextListener) {
            if (capped) {
              const deadline = call.getDeadline();
              const clientDeadline = deadline instanceof Date ? deadline.getTime() : deadline;
              const refused = limit.admit(Math.min(clientDeadline - Date.now(), requestTimeoutMs));
              if (refused !== undefined) return refuse(refusals[refused]);
              holds = 'in-flight';
            } else if (streaming) {
              if (openStreams >= options.maxStreams) return refuse(refusals.streams);
              openStreams++;
              holds = 'stream';
            }
            if (identify === undefined) return nextListener(metadata);
            // The guards read only the metadata and the peer of the context.
            const context = {
              metadata: new GrpcMetadataView(metadata),
              peer: call.getPeer(),
            } as unknown as CallContext;
            const admission: Admission = { principal: undefined, deadline: undefined };
            const admitted = () => {
              identify.authorize(guarded, context, admission);
              if (admission.principal !== undefined) rememberPrincipal(metadata, admission.principal);
              nextListener(metadata);
            };
            // A refusal is answered here; anything else the pipeline's error mapping answers when its
            // authentication guard meets it again.
            const refuseOrPass = (error: unknown) =>
              error instanceof AppError ? refuse(refusal(error)) : nextListener(metadata);
            try {
              // API keys are checked at once; only a JWT needs a promise.
              const verdict = identify.authenticate(guarded, context, admission);
              if (verdict instanceof Promise) verdict.then(admitted).catch(refuseOrPass);
              else admitted();
            } catch (error) {
              refuseOrPass(error);
            }
          },
          onCancel: release,
        });
      },
      sendStatus(statusObject, next) {
        release();
        next(statusObject);
      },
    });
  };
}

/** The status a refused call gets: the error's code and message, and its reason in the trailer. */
function refusal(error: AppError): StatusObject {
  const wire = toWireError(error);
  const trailer = new Metadata();
  trailer.set(ERROR_REASON_TRAILER, wire.reason);
  return { code: wire.status, details: wire.message, metadata: trailer };
}

/**
 * Sets the largest message grpc-js reads for this call. grpc-js has one limit per server
 * (`grpc.max_receive_message_length`), checked against each message's length prefix before its body is
 * buffered; the call object keeps it in two fields of its own, set here when they are there. The version is
 * pinned by package-lock.json and `test/integration/security-limits.test.ts` pins the behaviour (a health
 * check over its limit gets RESOURCE_EXHAUSTED).
 */
function limitIncomingMessages(call: unknown, bytes: number): void {
  const base = call as { maxReceiveMessageSize?: unknown; decoder?: { maxReadMessageLength?: unknown } };
  if (
    typeof base.maxReceiveMessageSize !== 'number' ||
    typeof base.decoder?.maxReadMessageLength !== 'number'
  )
    return;
  if (base.maxReceiveMessageSize !== -1 && base.maxReceiveMessageSize <= bytes) return;
  base.maxReceiveMessageSize = bytes;
  base.decoder.maxReadMessageLength = bytes;
}

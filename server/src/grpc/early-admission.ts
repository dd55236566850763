import { Metadata, ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import type { CallContext } from 'nice-grpc-common';
import { errors, type AppError } from '../errors.js';
import { InFlightLimit } from './in-flight-limit.js';
import { ERROR_REASON_TRAILER, toWireError } from './wire-error.js';

/**
 * Metadata key under which {@link earlyAdmission} hands the client's deadline to the handlers, as ms since
 * the epoch. Whatever a client sends under this name is dropped first.
 */
const CLIENT_DEADLINE_KEY = 'ci-internal-client-deadline-ms';

/** Options for {@link earlyAdmission}. */
export interface EarlyAdmissionOptions {
  /** MAX_IN_FLIGHT: unary calls of `shedPaths` in flight beyond which new ones are refused. */
  readonly maxInFlight: number;
  /** REQUEST_TIMEOUT_MS: the deadline of a call whose client sent none (the deadline guard caps every call). */
  readonly requestTimeoutMs: number;
  /** Full paths (`/package.Service/Method`) of the unary methods that may be shed. */
  readonly shedPaths: ReadonlySet<string>;
  /** Called for every refused call (metrics). */
  readonly onShed: (path: string) => void;
}

/**
 * The first look at every call, as a grpc-js interceptor: it runs when the call's headers arrive, before
 * its message is decoded and before nice-grpc and the call pipeline are involved.
 *
 * - **Load shedding** of the unary API calls (see {@link InFlightLimit}): beyond MAX_IN_FLIGHT, or when the
 *   call's deadline (the client's, or REQUEST_TIMEOUT_MS) is nearer than the saturated server could answer,
 *   the call is refused at once with RESOURCE_EXHAUSTED (`ERR_OVERLOADED`, which clients retry with backoff
 *   or elsewhere). Refusing here skips decoding the request and the whole pipeline: under overload every
 *   excess call costs a refusal, and refusals costing a fifth of a served call took a third of the goodput
 *   at twice the capacity (`test/reliability/overload.test.ts`).
 *   It runs before authentication, so an overloaded server refuses unauthenticated calls with
 *   RESOURCE_EXHAUSTED too. Streams are bounded by their own window (STREAM_CHUNKS_IN_FLIGHT).
 * - **Deadline**: grpc-js knows the call's deadline (from `grpc-timeout`) but nice-grpc does not pass it on;
 *   handlers would only see `context.signal` abort once grpc-js's timer fired, an event-loop turn late when
 *   the server is busy. It is copied into the metadata, where {@link clientDeadlineOf} reads it.
 */
export function earlyAdmission(options: EarlyAdmissionOptions): ServerInterceptor {
  const { requestTimeoutMs, shedPaths, onShed } = options;
  const limit = new InFlightLimit({ maxInFlight: options.maxInFlight });
  // Built once: a refusal must cost far less than serving, and a stack per refusal is a measurable part.
  const refusal = (error: AppError) => {
    const wire = toWireError(error);
    const trailer = new Metadata();
    trailer.set(ERROR_REASON_TRAILER, wire.reason);
    return { code: wire.status, details: wire.message, metadata: trailer };
  };
  const refusals = {
    overloaded: refusal(errors.overloaded({ maxInFlight: options.maxInFlight })),
    'too-busy-for-deadline': refusal(errors.overloaded('deadline-too-near')),
  };

  return (method, call) => {
    const capped = !method.requestStream && !method.responseStream && shedPaths.has(method.path);
    let admitted = false;
    const release = () => {
      if (admitted) {
        admitted = false;
        limit.ended();
      }
    };
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextListener) {
            const deadline = call.getDeadline();
            const clientDeadline = deadline instanceof Date ? deadline.getTime() : deadline;
            if (capped) {
              const refused = limit.admit(Math.min(clientDeadline - Date.now(), requestTimeoutMs));
              if (refused !== undefined) {
                onShed(method.path);
                call.sendStatus(refusals[refused]); // grpc-js copies the trailer
                return;
              }
              admitted = true;
            }
            metadata.remove(CLIENT_DEADLINE_KEY);
            if (Number.isFinite(clientDeadline)) metadata.set(CLIENT_DEADLINE_KEY, String(clientDeadline));
            nextListener(metadata);
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

/** The client's deadline of the call (`Date.now()` scale), or undefined when it sent none. */
export function clientDeadlineOf(context: Pick<CallContext, 'metadata'>): number | undefined {
  const value = context.metadata.get(CLIENT_DEADLINE_KEY);
  return typeof value === 'string' ? Number(value) : undefined;
}

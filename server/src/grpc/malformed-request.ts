import { errors } from '../errors.js';

/**
 * Stands in for a request message that did not decode (truncated, a wrong wire type, groups nested too
 * deep, a 64-bit integer beyond 2^53, ...).
 *
 * grpc-js answers a decoder that throws with INTERNAL ("Error deserializing request"), which blames the
 * server for the client's bytes. So the decoders return this marker instead, and the call pipeline
 * turns it into INVALID_ARGUMENT (`rejectMalformed`) — for a stream, when the handler reads the
 * bad item. Pinned by test/reliability/fuzz.test.ts and test/integration/bad-input.test.ts.
 */
export class MalformedRequest {
  constructor(
    /** What the decoder said, e.g. "premature EOF". */
    readonly problem: string,
  ) {}
}

type Decode = (input: Uint8Array) => unknown;

function tolerant(decode: Decode): Decode {
  return (input) => {
    try {
      return decode(input);
    } catch (error) {
      return new MalformedRequest(error instanceof Error ? error.message : String(error));
    }
  };
}

/**
 * The same service definition with decoders that return a {@link MalformedRequest} instead of throwing.
 * Takes ts-proto definitions (`{ fullName, methods: { m: { requestType: { decode } } } }`) and grpc-js
 * ones (`{ m: { path, requestDeserialize } }`, e.g. server reflection's).
 */
export function tolerateMalformedRequests<Definition extends object>(definition: Definition): Definition {
  if ('fullName' in definition && 'methods' in definition) {
    const methods = definition.methods as Record<string, { requestType: { decode: Decode } }>;
    return {
      ...definition,
      methods: Object.fromEntries(
        Object.entries(methods).map(([key, method]) => [
          key,
          { ...method, requestType: { ...method.requestType, decode: tolerant(method.requestType.decode) } },
        ]),
      ),
    };
  }
  const methods = definition as Record<string, { requestDeserialize: Decode }>;
  return Object.fromEntries(
    Object.entries(methods).map(([key, method]) => [
      key,
      { ...method, requestDeserialize: tolerant(method.requestDeserialize) },
    ]),
  ) as Definition;
}

/** A unary request that did not decode throws INVALID_ARGUMENT (`ERR_MALFORMED_REQUEST`) here. */
export function rejectMalformed(method: string, request: unknown): void {
  if (request instanceof MalformedRequest) throw errors.malformedRequest(method, request.problem);
}

/**
 * A request stream as handlers should see it: a malformed item throws INVALID_ARGUMENT when it is read,
 * which ends the stream (the item has no id to answer it by).
 */
export async function* rejectMalformedItems<Request>(
  requests: AsyncIterable<Request>,
  method: string,
): AsyncIterable<Request> {
  for await (const request of requests) {
    rejectMalformed(method, request);
    yield request;
  }
}

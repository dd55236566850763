import { Client, credentials, Metadata, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';

/** How a call ended, with the raw response messages it received. */
export interface RawOutcome {
  /** gRPC status code number. */
  readonly code: status;
  readonly details: string;
  readonly responses: readonly Buffer[];
  /** True when the test cancelled a server stream itself after its first response. */
  readonly cancelledByTest: boolean;
}

const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const identity = (bytes: Buffer): Buffer => bytes;

/**
 * A grpc-js client that sends raw bytes to any method path: no encoder stands between the test and the
 * wire, so malformed messages reach the server as they are (for fuzzing). No message size limits on this
 * side, so the server's own limit answers.
 */
export class RawGrpcClient {
  readonly #address: string;
  readonly #clients: Client[] = [];
  #client: Client;
  #cancelled = 0;

  constructor(address: string) {
    this.#address = address;
    this.#client = this.#connect();
  }

  #connect(): Client {
    const client = new Client(this.#address, credentials.createInsecure(), {
      'grpc.max_send_message_length': -1,
      'grpc.max_receive_message_length': -1,
      // Its own connection, not one shared with other clients of the address (see `serverStream`).
      'grpc.use_local_subchannel_pool': 1,
    });
    this.#clients.push(client);
    return client;
  }

  /** A unary call. */
  unary(path: string, request: Uint8Array, deadlineMs: number): Promise<RawOutcome> {
    return new Promise((resolve) => {
      this.#client.makeUnaryRequest(
        path,
        asBuffer,
        identity,
        request,
        new Metadata(),
        { deadline: Date.now() + deadlineMs },
        (error: ServiceError | null, response?: Buffer) => {
          resolve({
            code: error?.code ?? status.OK,
            details: error?.details ?? '',
            responses: response === undefined ? [] : [response],
            cancelledByTest: false,
          });
        },
      );
    });
  }

  /**
   * A server-streaming call, cancelled by the test after its first response (a health Watch never ends).
   * Every 500 cancelled calls the client moves to a new connection: a cancel is an RST_STREAM, and the
   * server's HTTP/2 library (nghttp2, mitigating CVE-2023-44487 "rapid reset") closes a connection on
   * which a client resets more than about 1,000 streams in a burst, failing every call on it.
   */
  serverStream(path: string, request: Uint8Array, deadlineMs: number): Promise<RawOutcome> {
    if (++this.#cancelled % 500 === 0) this.#client = this.#connect();
    const call = this.#client.makeServerStreamRequest(path, asBuffer, identity, request, new Metadata(), {
      deadline: Date.now() + deadlineMs,
    });
    return collect(call, () => call.cancel());
  }

  /** A bidi (or client-streaming) call: writes every item, half-closes, and waits for the status. */
  bidi(path: string, items: readonly Uint8Array[], deadlineMs: number): Promise<RawOutcome> {
    const call = this.#client.makeBidiStreamRequest(path, asBuffer, identity, new Metadata(), {
      deadline: Date.now() + deadlineMs,
    });
    const outcome = collect(call);
    for (const item of items) call.write(item);
    call.end();
    return outcome;
  }

  close(): void {
    for (const client of this.#clients) client.close();
  }
}

interface StreamingCall {
  on(event: 'data', listener: (data: Buffer) => void): unknown;
  on(event: 'status', listener: (status: StatusObject) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

function collect(call: StreamingCall, onFirstResponse?: () => void): Promise<RawOutcome> {
  const responses: Buffer[] = [];
  let cancelledByTest = false;
  return new Promise((resolve) => {
    call.on('data', (data: Buffer) => {
      responses.push(data);
      if (onFirstResponse !== undefined && !cancelledByTest) {
        cancelledByTest = true;
        onFirstResponse();
      }
    });
    call.on('error', () => undefined); // the status event carries it
    call.on('status', ({ code, details }: StatusObject) =>
      resolve({ code, details, responses, cancelledByTest }),
    );
  });
}

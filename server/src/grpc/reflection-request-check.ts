import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import type { ServerReflectionService } from 'nice-grpc-server-reflection';

/** Fields of `grpc.reflection.v1.ServerReflectionRequest` that hold a message (`file_containing_extension`). */
const MESSAGE_FIELDS: ReadonlySet<number> = new Set([5]);

/**
 * Server reflection with a bounds check in front of its request decoder.
 *
 * nice-grpc-server-reflection decodes requests with google-protobuf, which trusts length prefixes: a
 * 20-byte request declaring a 2 GB string made it loop for ~15 s on the event loop, stalling every call of
 * the process — and reflection needs no credentials (found by test/reliability/fuzz.test.ts). Requests are
 * first walked with @bufbuild/protobuf's reader, which checks every length against the bytes there are;
 * one that fails is malformed (INVALID_ARGUMENT, see `malformed-request.ts`).
 */
export function boundsCheckedReflection(
  service: typeof ServerReflectionService,
): typeof ServerReflectionService {
  const method = service.serverReflectionInfo;
  return {
    ...service,
    serverReflectionInfo: {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        checkLengths(bytes, MESSAGE_FIELDS);
        return method.requestDeserialize(bytes);
      },
    },
  };
}

/**
 * Walks a message, and the nested messages at `messageFields`.
 *
 * @throws Error when a length runs past the end, a wire type is invalid or groups nest too deep.
 */
function checkLengths(bytes: Uint8Array, messageFields: ReadonlySet<number>): void {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag();
    if (wireType === WireType.LengthDelimited && messageFields.has(fieldNo)) {
      checkLengths(reader.bytes(), new Set());
    } else {
      reader.skip(wireType, fieldNo);
    }
  }
}

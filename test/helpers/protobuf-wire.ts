// The protobuf wire format, written and read without a schema, for building inputs no well-behaved
// encoder produces (unknown field numbers, wrong wire types, lying lengths, deep group nesting).

/** Protobuf wire types. 3 and 4 (groups) are deprecated but every decoder must skip them. */
export const WireType = {
  Varint: 0,
  Fixed64: 1,
  LengthDelimited: 2,
  StartGroup: 3,
  EndGroup: 4,
  Fixed32: 5,
} as const;

/** One field as it sits on the wire: for length-delimited fields `payload` is the content only. */
export interface WireField {
  readonly fieldNo: number;
  readonly wireType: number;
  readonly payload: Uint8Array;
}

/** A varint of `value` (taken modulo 2^64, so -1 is the 10-byte encoding of an int64 -1). */
export function varint(value: bigint | number): Uint8Array {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < 2 ** 31) {
    const out: number[] = [];
    let n = value;
    while (n >= 0x80) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
    return Uint8Array.from(out);
  }
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

/** The tag of a field; field numbers outside 1..2^29-1 are written as asked (they are invalid). */
export function tag(fieldNo: number, wireType: number): Uint8Array {
  return varint(
    fieldNo >= 0 && fieldNo < 2 ** 28 ? fieldNo * 8 + wireType : BigInt(fieldNo) * 8n + BigInt(wireType),
  );
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Encodes fields back to bytes (length prefixes recomputed, groups closed). */
export function encodeFields(fields: readonly WireField[]): Uint8Array {
  // A blown-up repeated field is the same object many times: encode it once.
  const encoded = new Map<WireField, Uint8Array>();
  return concat(
    fields.map((field) => {
      let bytes = encoded.get(field);
      if (bytes === undefined) {
        bytes = concat(encodeField(field));
        encoded.set(field, bytes);
      }
      return bytes;
    }),
  );
}

function encodeField({ fieldNo, wireType, payload }: WireField): Uint8Array[] {
  switch (wireType) {
    case WireType.LengthDelimited:
      return [tag(fieldNo, wireType), varint(payload.length), payload];
    case WireType.StartGroup:
      return [tag(fieldNo, wireType), payload, tag(fieldNo, WireType.EndGroup)];
    default:
      return [tag(fieldNo, wireType), payload];
  }
}

/**
 * Splits a message into its top-level fields, or returns `undefined` when the bytes are not a
 * well-formed message (a strict reader: no recursion limit tricks, groups must close).
 */
export function decodeFields(bytes: Uint8Array): WireField[] | undefined {
  const fields: WireField[] = [];
  let pos = 0;
  const readVarint = (): bigint | undefined => {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (pos >= bytes.length) return undefined;
      const byte = bytes[pos++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
    }
    return undefined;
  };
  // Returns the end of the field's payload (for a group: of its content), or undefined when malformed.
  const skip = (fieldNo: number, wireType: number, depth: number): number | undefined => {
    switch (wireType) {
      case WireType.Varint:
        return readVarint() === undefined ? undefined : pos;
      case WireType.Fixed64:
        pos += 8;
        return pos <= bytes.length ? pos : undefined;
      case WireType.Fixed32:
        pos += 4;
        return pos <= bytes.length ? pos : undefined;
      case WireType.LengthDelimited: {
        const length = readVarint();
        if (length === undefined || length > BigInt(bytes.length - pos)) return undefined;
        pos += Number(length);
        return pos;
      }
      case WireType.StartGroup: {
        if (depth > 64) return undefined;
        for (;;) {
          const start = pos;
          const key = readVarint();
          if (key === undefined) return undefined;
          const [no, type] = [Number(key >> 3n), Number(key & 7n)];
          if (type === WireType.EndGroup) return no === fieldNo ? start : undefined;
          if (skip(no, type, depth + 1) === undefined) return undefined;
        }
      }
      default:
        return undefined;
    }
  };
  while (pos < bytes.length) {
    const key = readVarint();
    if (key === undefined) return undefined;
    const fieldNo = Number(key >> 3n);
    const wireType = Number(key & 7n);
    if (fieldNo === 0) return undefined;
    let start = pos;
    const end = skip(fieldNo, wireType, 0);
    if (end === undefined) return undefined;
    if (wireType === WireType.LengthDelimited) start = end - lengthOfPayload(bytes, start);
    fields.push({ fieldNo, wireType, payload: bytes.subarray(start, end) });
  }
  return fields;
}

/** The length a length-delimited field declares at `offset` (its varint prefix). */
function lengthOfPayload(bytes: Uint8Array, offset: number): number {
  let result = 0;
  let shift = 1;
  for (let pos = offset; ; pos++) {
    const byte = bytes[pos]!;
    result += (byte & 0x7f) * shift;
    if ((byte & 0x80) === 0) return result;
    shift *= 128;
  }
}

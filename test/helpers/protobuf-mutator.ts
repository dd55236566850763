import { EDGE_DOUBLES, EDGE_VARINTS, oddPayload } from './hostile-values.js';
import {
  concat,
  decodeFields,
  encodeFields,
  tag,
  varint,
  WireType,
  type WireField,
} from './protobuf-wire.js';
import type { SeededRandom } from './seeded-random.js';

// Generators of hostile protobuf messages for fuzzing: byte-level damage to valid encodings, and
// field-level edits that keep (or deliberately break) the wire format, planting the edge values of
// hostile-values.ts. Everything is driven by a SeededRandom, so an input is reproduced from its seed.

/** Sizes are kept under this so that most inputs reach the handler (MAX_MESSAGE_BYTES is 4 MiB). */
const DEFAULT_BUDGET = 64 * 1024;

/** Random bytes of a random (mostly small) length: the bytes-level fuzz with no structure at all. */
export function randomMessage(random: SeededRandom): Uint8Array {
  return random.bytes(random.size(random.chance(0.05) ? 65_536 : 2_048));
}

/**
 * Damages a valid encoding at the byte level, 1-4 times: bit flips, truncation, inserted or overwritten
 * bytes, duplicated or removed chunks, and splices with another valid message.
 */
export function mutateBytes(
  valid: Uint8Array,
  random: SeededRandom,
  others: readonly Uint8Array[],
): Uint8Array {
  let bytes: Uint8Array = Uint8Array.from(valid);
  for (let round = random.int(1, 4); round > 0; round--) {
    const at = random.int(0, bytes.length);
    switch (random.int(0, 7)) {
      case 0: {
        if (bytes.length === 0) break;
        const i = Math.min(at, bytes.length - 1);
        bytes[i] = bytes[i]! ^ (1 << random.int(0, 7));
        break;
      }
      case 1:
        bytes = bytes.subarray(0, at);
        break;
      case 2:
        bytes = concat([bytes.subarray(0, at), random.bytes(random.int(1, 16)), bytes.subarray(at)]);
        break;
      case 3: {
        const end = random.int(at, bytes.length);
        bytes = concat([bytes.subarray(0, end), bytes.subarray(at, end), bytes.subarray(at)]);
        break;
      }
      case 4: {
        const end = random.int(at, bytes.length);
        bytes = concat([bytes.subarray(0, at), bytes.subarray(end)]);
        break;
      }
      case 5:
        if (bytes.length > 0) bytes[Math.min(at, bytes.length - 1)] = random.pick([0x00, 0x7f, 0x80, 0xff]);
        break;
      case 6:
        bytes = concat([bytes.subarray(0, at), random.pick(others)]);
        break;
      default:
        bytes = concat([bytes, bytes]); // every field twice: last-one-wins and repeated fields doubled
    }
  }
  return bytes;
}

/**
 * Field-level edits on the wire, 1-3 times: unknown field numbers, wrong wire types, edge-value varints
 * and doubles, odd strings and bytes, repeated fields blown up, nested messages mutated recursively,
 * lying length prefixes and deeply nested groups. Bytes that are not a message get unknown fields only.
 */
export function mutateFields(valid: Uint8Array, random: SeededRandom, budget = DEFAULT_BUDGET): Uint8Array {
  const fields = decodeFields(valid) ?? [{ fieldNo: 1, wireType: WireType.LengthDelimited, payload: valid }];
  for (let round = random.int(1, 3); round > 0; round--) {
    const index = fields.length === 0 ? -1 : random.int(0, fields.length - 1);
    const field = fields[index];
    const op = field === undefined ? 0 : random.int(0, 9);
    switch (op) {
      case 0:
        fields.splice(random.int(0, fields.length), 0, unknownField(random));
        break;
      case 1: // same field number, another wire type (well-formed, so decoders must skip it)
        fields[index] = { ...field!, ...retyped(field!, random) };
        break;
      case 2:
        fields[index] = { ...field!, wireType: WireType.Varint, payload: varint(random.pick(EDGE_VARINTS)) };
        break;
      case 3: {
        const view = new DataView(new ArrayBuffer(8));
        const double = random.chance(0.5);
        if (double) view.setFloat64(0, random.pick(EDGE_DOUBLES), true);
        else view.setFloat32(0, random.pick(EDGE_DOUBLES), true);
        const payload = new Uint8Array(view.buffer, 0, double ? 8 : 4);
        fields[index] = { ...field!, wireType: double ? WireType.Fixed64 : WireType.Fixed32, payload };
        break;
      }
      case 4:
        fields[index] = {
          ...field!,
          wireType: WireType.LengthDelimited,
          payload: oddPayload(random, budget),
        };
        break;
      case 5: {
        // A repeated field (or a scalar sent many times) blown up towards the size budget.
        const size = Math.max(1, encodeFields([field!]).length);
        const copies = 2 + random.size(Math.floor(budget / size));
        const blownUp = [...fields.slice(0, index), ...fields.slice(index + 1)];
        for (let i = 0; i < copies; i++) blownUp.push(field!);
        fields.length = 0;
        for (const one of blownUp) fields.push(one);
        break;
      }
      case 6:
        if (field!.wireType === WireType.LengthDelimited) {
          fields[index] = { ...field!, payload: mutateFields(field!.payload, random, budget) };
        }
        break;
      case 7:
        fields.splice(index, 1);
        break;
      case 8:
        fields.splice(random.int(0, fields.length), 0, ...fields.splice(index, 1));
        break;
      default:
        return concat([encodeFields(fields), brokenTail(random)]);
    }
  }
  return encodeFields(fields);
}

/**
 * A valid message with one field grown to `size` bytes: a repeated field with thousands of copies, or
 * one huge string/bytes value. Used on both sides of MAX_MESSAGE_BYTES.
 */
export function hugeMessage(valid: Uint8Array, random: SeededRandom, size: number): Uint8Array {
  const fields = decodeFields(valid) ?? [];
  const field = fields.length > 0 ? random.pick(fields) : undefined;
  if (field !== undefined && random.chance(0.5)) {
    const one = encodeFields([field]);
    const copies = Math.max(1, Math.floor((size - valid.length) / one.length));
    return concat([valid, ...Array.from({ length: Math.min(copies, 5_000_000) }, () => one)]);
  }
  const fieldNo = field?.fieldNo ?? 1;
  const payload = new Uint8Array(Math.max(0, size - valid.length - 10)).fill(random.pick([0x78, 0x00, 0xff]));
  return concat([valid, encodeFields([{ fieldNo, wireType: WireType.LengthDelimited, payload }])]);
}

function unknownField(random: SeededRandom): WireField {
  const fieldNo = random.pick([15, 16, 99, 1000, 19_000, 2 ** 29 - 1, random.int(1, 2 ** 29 - 1)]);
  switch (random.int(0, 4)) {
    case 0:
      return { fieldNo, wireType: WireType.Varint, payload: varint(random.pick(EDGE_VARINTS)) };
    case 1:
      return { fieldNo, wireType: WireType.Fixed64, payload: random.bytes(8) };
    case 2:
      return { fieldNo, wireType: WireType.Fixed32, payload: random.bytes(4) };
    case 3:
      return { fieldNo, wireType: WireType.StartGroup, payload: nestedGroups(fieldNo, random.size(50)) };
    default:
      return { fieldNo, wireType: WireType.LengthDelimited, payload: random.bytes(random.size(64)) };
  }
}

/** `depth` nested groups (what recursive skippers overflow their stack on). */
function nestedGroups(fieldNo: number, depth: number): Uint8Array {
  const open = tag(fieldNo, WireType.StartGroup);
  const close = tag(fieldNo, WireType.EndGroup);
  const out = new Uint8Array(depth * (open.length + close.length));
  for (let i = 0; i < depth; i++) {
    out.set(open, i * open.length);
    out.set(close, depth * open.length + i * close.length);
  }
  return out;
}

/** The field's value re-encoded under another wire type. */
function retyped(field: WireField, random: SeededRandom): Pick<WireField, 'wireType' | 'payload'> {
  switch (random.int(0, 3)) {
    case 0:
      return { wireType: WireType.Varint, payload: varint(field.payload.length) };
    case 1:
      return {
        wireType: WireType.Fixed32,
        payload: concat([field.payload, new Uint8Array(4)]).subarray(0, 4),
      };
    case 2:
      return {
        wireType: WireType.Fixed64,
        payload: concat([field.payload, new Uint8Array(8)]).subarray(0, 8),
      };
    default:
      return { wireType: WireType.LengthDelimited, payload: field.payload };
  }
}

/** A malformed ending: a length prefix longer than what follows, an unclosed or stray group, a 0 tag. */
function brokenTail(random: SeededRandom): Uint8Array {
  switch (random.int(0, 5)) {
    case 0:
      return concat([tag(1, WireType.LengthDelimited), varint(random.int(1, 2 ** 31)), random.bytes(3)]);
    case 1:
      return tag(5, WireType.StartGroup);
    case 2:
      return tag(5, WireType.EndGroup);
    case 3:
      return Uint8Array.from([0x00]);
    case 4:
      return Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]); // 11-byte varint
    default:
      return nestedGroups(7, 100_000); // deeper than any call stack
  }
}

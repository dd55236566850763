import type { SeededRandom } from './seeded-random.js';

// Values that have broken protobuf decoders and the servers behind them: varints and doubles at the edges
// of every numeric type, and strings and byte payloads that trouble text handling. The mutators in
// protobuf-mutator.ts and message-mutator.ts put them into otherwise valid messages.

/** Varint values at the edges of every integer type protobuf has. */
export const EDGE_VARINTS: readonly bigint[] = [
  0n,
  1n,
  127n,
  128n,
  2n ** 31n - 1n,
  2n ** 31n,
  2n ** 32n - 1n,
  2n ** 32n,
  2n ** 53n,
  2n ** 53n + 1n,
  2n ** 63n - 1n,
  2n ** 63n,
  2n ** 64n - 1n, // -1 as int32/int64
  2n ** 64n - 2n ** 31n, // INT32_MIN sign-extended
];

/** Doubles and floats whose bits trouble number handling. */
export const EDGE_DOUBLES: readonly number[] = [
  NaN,
  Infinity,
  -Infinity,
  -0,
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  Number.MIN_VALUE,
  2 ** 53 + 2,
  -1,
  1e-310,
];

/** Strings that have broken servers before: NUL bytes, lone surrogates, injections, huge and empty. */
const ODD_STRINGS: readonly string[] = [
  '',
  ' ',
  '\u0000',
  'churn\u0000',
  '\ud800',
  'churn\udfff',
  '\u202e\u0007\r\n\t',
  '😀'.repeat(3),
  "1'; DROP TABLE models;--",
  '%s%n%x%d',
  '${jndi:ldap://x}',
  '../../../../etc/passwd',
  '__proto__',
  'constructor',
  'NaN',
  '-1',
  '1e309',
  'CHURN',
  ' churn',
  'churn',
  'clv',
  '1',
  'features',
  'binary_data_output',
  'config',
  'file:1/model.onnx',
];

/** An odd string: one of the known troublemakers, random text, or a long run. */
export function oddString(random: SeededRandom): string {
  switch (random.int(0, 6)) {
    case 0:
      return 'x'.repeat(random.size(70_000));
    case 1:
      return String.fromCharCode(...Array.from({ length: random.size(40) }, () => random.int(0, 0xffff)));
    case 2: // where a server cuts a message short, an emoji (a surrogate pair) may be cut in half
      return 'a'.repeat(random.int(0, 100)) + '😀'.repeat(random.size(1_000));
    default:
      return random.pick(ODD_STRINGS);
  }
}

/** Odd bytes for a length-delimited payload: invalid UTF-8, NULs, random or long. */
export function oddPayload(random: SeededRandom, budget: number): Uint8Array {
  switch (random.int(0, 5)) {
    case 0:
      return new Uint8Array(0);
    case 1:
      return Uint8Array.from([0xc3, 0x28, 0xff, 0xfe, 0xed, 0xa0, 0x80]); // invalid UTF-8
    case 2:
      return new Uint8Array(random.size(Math.min(budget, 300_000))).fill(random.pick([0, 0x41, 0xff]));
    case 3:
      return random.bytes(random.size(256));
    default:
      return new TextEncoder().encode(oddString(random));
  }
}

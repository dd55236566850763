import { oddString } from './hostile-values.js';
import type { SeededRandom } from './seeded-random.js';

// Field-level fuzzing on decoded messages (ts-proto objects): one field at a time gets an extreme or odd
// value of its own type, then the generated `encode` writes it, so the message stays well-formed and
// reaches the handler's validation rather than the decoder.

/** Numbers at the edges of what handlers check: non-finite, negative, beyond 32 and 53 bits. */
const ODD_NUMBERS: readonly number[] = [
  NaN,
  Infinity,
  -Infinity,
  -0,
  0,
  -1,
  1,
  0.5,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 53 - 1,
  -(2 ** 53 - 1),
  1e308,
  -1e308,
  Number.MIN_VALUE,
  3.4028235e38, // FLT_MAX
  3.5e38, // beyond FLT_MAX: Infinity as a float
];

type Container = Record<string | number, unknown>;

/** Entries of one array or map considered for a mutation (see collectSlots). */
const MAX_CHILDREN = 64;

/** Where a value sits: its parent and key, so that it can be replaced. */
interface Slot {
  readonly parent: Container;
  readonly key: string | number;
  readonly value: unknown;
}

/**
 * A mutated copy of `message` (1-3 field edits), encoded with `encode`; `undefined` when the encoder
 * refuses the odd value (e.g. NaN for a uint32), which the caller treats as "try another input".
 */
export function mutateMessage<T>(
  message: T,
  encode: (message: T) => { finish(): Uint8Array },
  random: SeededRandom,
): Uint8Array | undefined {
  const copy = structuredClone(message);
  const root = { message: copy } as Container;
  for (let round = random.int(1, 3); round > 0; round--) {
    const slots = collectSlots(root);
    if (slots.length === 0) break;
    mutateSlot(random.pick(slots), random);
  }
  try {
    return encode(root.message as T).finish();
  } catch {
    return undefined;
  }
}

function collectSlots(root: Container): Slot[] {
  const slots: Slot[] = [];
  const visit = (parent: Container, key: string | number, depth: number) => {
    const value = parent[key];
    if (value === undefined || key === '$case') return;
    slots.push({ parent, key, value });
    if (depth > 8 || value instanceof Uint8Array || typeof value !== 'object' || value === null) return;
    const container = value as Container;
    // Only the first entries of a container: an earlier round may have blown a repeated field up to 100,000
    // copies of one shared element, and visiting every copy's fields, round after round, exhausts memory.
    const children = Array.isArray(value) ? value.keys() : Object.keys(value).values();
    for (let taken = 0, next = children.next(); !next.done && taken < MAX_CHILDREN; taken++) {
      visit(container, next.value, depth + 1);
      next = children.next();
    }
  };
  visit(root, 'message', 0);
  return slots.filter((slot) => slot.parent !== root); // the message itself is not replaced
}

function mutateSlot({ parent, key, value }: Slot, random: SeededRandom): void {
  if (typeof value === 'string') parent[key] = oddString(random);
  else if (typeof value === 'number') parent[key] = random.chance(0.8) ? random.pick(ODD_NUMBERS) : -value;
  else if (typeof value === 'boolean') parent[key] = !value;
  else if (value instanceof Uint8Array)
    parent[key] = random.bytes(random.size(random.chance(0.1) ? 2 ** 20 : 64));
  else if (Array.isArray(value)) mutateArray(value as unknown[], random);
  else if (typeof value === 'object' && value !== null && !('$case' in value))
    addEntry(value as Container, random);
}

/** Empties a repeated field, or blows it up with copies (huge repeated arrays), or adds an odd element. */
function mutateArray(items: unknown[], random: SeededRandom): void {
  const sample = items.length > 0 ? items[random.int(0, items.length - 1)] : undefined;
  switch (sample === undefined ? 0 : random.int(0, 2)) {
    case 0:
      items.length = 0;
      break;
    case 1: {
      const copies = random.size(random.chance(0.1) ? 100_000 : 2_000);
      for (let i = 0; i < copies; i++) items.push(sample);
      break;
    }
    default:
      items.push(typeof sample === 'number' ? random.pick(ODD_NUMBERS) : structuredClone(sample));
  }
}

/** Adds an odd key to a map (with a value like its others), or many keys. */
function addEntry(map: Container, random: SeededRandom): void {
  const values = Object.values(map);
  if (values.length === 0) return;
  const sample = values[random.int(0, values.length - 1)];
  const count = random.chance(0.1) ? random.size(5_000) : 1;
  for (let i = 0; i < count; i++) {
    const key = count === 1 ? oddString(random) : `k${i}`;
    map[key] = typeof sample === 'number' ? random.pick(ODD_NUMBERS) : structuredClone(sample);
  }
}

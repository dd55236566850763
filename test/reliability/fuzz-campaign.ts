import { Status } from 'nice-grpc';
import { hugeMessage, mutateBytes, mutateFields, randomMessage } from '../helpers/protobuf-mutator.js';
import type { RawGrpcClient } from '../helpers/raw-grpc-client.js';
import { SeededRandom } from '../helpers/seeded-random.js';
import type { FuzzTarget } from './fuzz-targets.js';

/** How one generated message was made (for the report and for reading a failure). */
export type MessageKind =
  'valid' | 'random-bytes' | 'mutated-bytes' | 'wire-fields' | 'typed-fields' | 'huge';

/** Statuses that mean the server failed rather than refused: no fuzzed input may produce them. */
const SERVER_FAILURES = new Set<number>([Status.INTERNAL, Status.UNKNOWN]);

const statusName = (code: number): string => Status[code] ?? `code ${code}`;

/** A call that ended badly, with what is needed to replay it. */
export interface FuzzFailure {
  readonly path: string;
  readonly call: number;
  readonly problem: string;
  readonly kinds: readonly MessageKind[];
  /** Each message of the call, hex (long ones cut, with their length). */
  readonly messages: readonly string[];
}

/** What a campaign against one RPC did. */
export interface CampaignResult {
  readonly path: string;
  readonly calls: number;
  readonly messages: number;
  /** Messages per kind. */
  readonly kinds: Readonly<Record<string, number>>;
  /** Call statuses by name. */
  readonly statuses: Readonly<Record<string, number>>;
  /** Per-item error codes inside OK responses (Score results, stream chunks), by name. */
  readonly itemStatuses: Readonly<Record<string, number>>;
  readonly failures: readonly FuzzFailure[];
  readonly elapsedMs: number;
}

/** One generated message: mostly damaged or odd, a few valid so that the happy path stays covered. */
export function fuzzMessage(
  target: FuzzTarget,
  random: SeededRandom,
): { kind: MessageKind; bytes: Uint8Array } {
  const valid = random.pick(target.valid);
  const roll = random.float();
  if (roll < 0.02) return { kind: 'valid', bytes: valid };
  // Rare, because each costs the server milliseconds: a field blown up to 1-5 MiB, so on either side of
  // the 4 MiB MAX_MESSAGE_BYTES (above it: RESOURCE_EXHAUSTED before decoding).
  if (roll < 0.021) {
    return { kind: 'huge', bytes: hugeMessage(valid, random, random.int(2 ** 20, 5 * 2 ** 20)) };
  }
  if (roll < 0.2) return { kind: 'random-bytes', bytes: randomMessage(random) };
  if (roll < 0.55) return { kind: 'mutated-bytes', bytes: mutateBytes(valid, random, target.valid) };
  if (roll < 0.75 || target.mutate === undefined) {
    return { kind: 'wire-fields', bytes: mutateFields(valid, random) };
  }
  const typed = target.mutate(random);
  return typed === undefined
    ? { kind: 'wire-fields', bytes: mutateFields(valid, random) }
    : { kind: 'typed-fields', bytes: typed };
}

/**
 * Sends at least `messages` fuzzed messages to one RPC, `concurrency` calls at a time. Unary and
 * server-streaming calls carry one message; bidi calls 1-6 stream items (valid ones and malformed ones
 * mixed, so malformed items also arrive mid-stream). Call `c` is generated from `SeededRandom(seed, path, c)`.
 */
export async function runCampaign(
  client: RawGrpcClient,
  target: FuzzTarget,
  options: { seed: string; messages: number; concurrency: number; deadlineMs: number },
): Promise<CampaignResult> {
  const started = performance.now();
  const kinds: Record<string, number> = {};
  const statuses: Record<string, number> = {};
  const itemStatuses: Record<string, number> = {};
  const failures: FuzzFailure[] = [];
  let sent = 0;
  let calls = 0;

  async function oneCall(call: number): Promise<void> {
    const random = new SeededRandom(options.seed, target.path, call);
    const count = target.kind === 'bidi' ? random.int(1, 6) : 1;
    const generated = Array.from({ length: count }, () => fuzzMessage(target, random));
    sent += count;
    for (const { kind } of generated) kinds[kind] = (kinds[kind] ?? 0) + 1;
    const items = generated.map((message) => message.bytes);
    const outcome = await send(client, target, items, options.deadlineMs);
    const name = outcome.cancelledByTest ? 'OK' : statusName(outcome.code);
    statuses[name] = (statuses[name] ?? 0) + 1;
    const problems: string[] = [];
    if (!outcome.cancelledByTest && SERVER_FAILURES.has(outcome.code)) {
      problems.push(`status ${name}: ${outcome.details}`);
    }
    for (const response of outcome.responses) {
      for (const code of itemCodes(target, response)) {
        const item = statusName(code);
        itemStatuses[item] = (itemStatuses[item] ?? 0) + 1;
        if (SERVER_FAILURES.has(code)) problems.push(`an item failed with ${item}`);
      }
    }
    if (problems.length > 0) {
      failures.push({
        path: target.path,
        call,
        problem: problems.join('; '),
        kinds: generated.map((message) => message.kind),
        messages: items.map(hex),
      });
    }
  }

  const workers = Array.from({ length: options.concurrency }, async () => {
    while (sent < options.messages) await oneCall(calls++);
  });
  await Promise.all(workers);
  return {
    path: target.path,
    calls,
    messages: sent,
    kinds,
    statuses,
    itemStatuses,
    failures,
    elapsedMs: performance.now() - started,
  };
}

function send(client: RawGrpcClient, target: FuzzTarget, items: Uint8Array[], deadlineMs: number) {
  const [first] = items as [Uint8Array];
  switch (target.kind) {
    case 'unary':
      return client.unary(target.path, first, deadlineMs);
    case 'server-stream':
      return client.serverStream(target.path, first, deadlineMs);
    default:
      return client.bidi(target.path, items, deadlineMs);
  }
}

/** Per-item codes of a response; a response that does not decode counts as UNKNOWN. */
function itemCodes(target: FuzzTarget, response: Buffer): number[] {
  if (target.itemCodes === undefined) return [];
  try {
    return target.itemCodes(response);
  } catch {
    return [Status.UNKNOWN];
  }
}

function hex(bytes: Uint8Array): string {
  const shown = Buffer.from(bytes.subarray(0, 2_048)).toString('hex');
  return bytes.length > 2_048 ? `${shown}... (${bytes.length} bytes)` : shown;
}

/** The campaign as one report line: messages, calls, time, the status histograms and the message kinds. */
export function describeResult(result: CampaignResult): string {
  const histogram = (counts: Readonly<Record<string, number>>) =>
    Object.entries(counts)
      .sort(([, a], [, b]) => b - a)
      .map(([name, count]) => `${name} ${count}`)
      .join(', ');
  const items =
    Object.keys(result.itemStatuses).length > 0 ? `; items: ${histogram(result.itemStatuses)}` : '';
  return (
    `${result.path}: ${result.messages} messages in ${result.calls} calls, ` +
    `${(result.elapsedMs / 1000).toFixed(1)} s; statuses: ${histogram(result.statuses)}${items}; ` +
    `messages: ${histogram(result.kinds)}`
  );
}

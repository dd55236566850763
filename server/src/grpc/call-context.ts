import { Metadata as GrpcMetadata, type ServerUnaryCall } from '@grpc/grpc-js';
import { Metadata, type CallContext, type MetadataValue } from 'nice-grpc-common';
import type { Principal } from '../security/principal.js';
import type { CallPlan, CallPlanContext } from './call-plan.js';

/** Principals established as calls' headers arrived, by the grpc-js metadata object the handler receives. */
const earlyPrincipals = new WeakMap<GrpcMetadata, Principal>();

/**
 * Records who the call with this metadata is, for its {@link UnaryCallContext}: the early admission
 * (`early-admission.ts`) authenticates calls before their message is read.
 */
export function rememberPrincipal(metadata: GrpcMetadata, principal: Principal): void {
  earlyPrincipals.set(metadata, principal);
}

/**
 * The context of a unary call as the handlers see it (nice-grpc's `CallContext` plus the call plan), built
 * straight on the grpc-js call and paying only for what a call uses:
 *
 * - `metadata` reads the grpc-js metadata in place ({@link GrpcMetadataView}) instead of copying it;
 * - `signal` is made when first asked for (an `AbortController` and a listener cost more per call than
 *   the metadata), and aborts when the client cancels or the deadline passes;
 * - `header` and `trailer` exist once something is set on them, and only then travel to grpc-js.
 */
export class UnaryCallContext implements CallContext, CallPlanContext {
  readonly metadata: Metadata;
  /** Set by the call pipeline once admission let the call in. */
  plan!: CallPlan;
  private controller: AbortController | undefined;
  private headerMetadata: Metadata | undefined;
  private trailerMetadata: Metadata | undefined;
  private headerSent = false;
  private ended = false;
  private onCancelled: (() => void) | undefined;

  constructor(private readonly call: ServerUnaryCall<unknown, unknown>) {
    this.metadata = new GrpcMetadataView(call.metadata);
  }

  get peer(): string {
    return this.call.getPeer();
  }

  /** The client's deadline (`Date.now()` scale, from `grpc-timeout`), or undefined when it sent none. */
  get clientDeadline(): number | undefined {
    const deadline = this.call.getDeadline();
    const ms = deadline instanceof Date ? deadline.getTime() : deadline;
    return Number.isFinite(ms) ? ms : undefined;
  }

  /** The principal the early admission authenticated as the call's headers arrived (`early-admission.ts`). */
  get principal(): Principal | undefined {
    return earlyPrincipals.get(this.call.metadata);
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const controller = new AbortController();
      this.controller = controller;
      if (this.call.cancelled) controller.abort();
      else if (!this.ended) {
        this.onCancelled = () => controller.abort();
        this.call.once('cancelled', this.onCancelled);
      }
    }
    return this.controller.signal;
  }

  /**
   * The handler has answered: the signal no longer aborts. grpc-js still reports 'cancelled' when the
   * stream of a call that has answered closes (for every call under h2load), and aborting then only made
   * a DOMException, with its stack trace, for nothing: a tenth of a by-id call's CPU in the profile.
   */
  finish(): void {
    this.ended = true;
    if (this.onCancelled !== undefined) this.call.removeListener('cancelled', this.onCancelled);
  }

  get header(): Metadata {
    return (this.headerMetadata ??= Metadata());
  }

  get trailer(): Metadata {
    return (this.trailerMetadata ??= Metadata());
  }

  sendHeader(): void {
    if (this.headerSent) return;
    this.headerSent = true;
    if (this.headerMetadata !== undefined && !isEmpty(this.headerMetadata))
      this.call.sendMetadata(toGrpcJs(this.headerMetadata));
  }

  /** What the handlers put in the trailer, for grpc-js; undefined when nothing was. */
  grpcTrailer(): GrpcMetadata | undefined {
    return this.trailerMetadata === undefined ? undefined : toGrpcJs(this.trailerMetadata);
  }
}

/**
 * nice-grpc's `Metadata` over a grpc-js `Metadata`, read and written in place (grpc-js lowercases keys and
 * checks `-bin` values itself).
 */
export class GrpcMetadataView implements Metadata {
  constructor(private readonly grpc: GrpcMetadata) {}

  get<Key extends string>(key: Key): MetadataValue<Key> | undefined {
    return this.grpc.get(key)[0] as MetadataValue<Key> | undefined;
  }

  getAll<Key extends string>(key: Key): Array<MetadataValue<Key>> {
    return this.grpc.get(key) as Array<MetadataValue<Key>>;
  }

  has(key: string): boolean {
    return this.grpc.get(key).length > 0;
  }

  set<Key extends string>(key: Key, value: MetadataValue<Key> | Array<MetadataValue<Key>>): Metadata {
    this.grpc.remove(key);
    for (const item of Array.isArray(value) ? value : [value]) this.append(key, item);
    return this;
  }

  append<Key extends string>(key: Key, value: MetadataValue<Key>): Metadata {
    this.grpc.add(key, typeof value === 'string' ? value : Buffer.from(value));
    return this;
  }

  delete(key: string): void {
    this.grpc.remove(key);
  }

  *[Symbol.iterator](): IterableIterator<[string, Array<string | Uint8Array>]> {
    for (const key of Object.keys(this.grpc.getMap())) yield [key, this.grpc.get(key)];
  }
}

function isEmpty(metadata: Metadata): boolean {
  return metadata[Symbol.iterator]().next().done === true;
}

function toGrpcJs(metadata: Metadata): GrpcMetadata {
  const grpc = new GrpcMetadata();
  for (const [key, values] of metadata) {
    for (const value of values) grpc.add(key, typeof value === 'string' ? value : Buffer.from(value));
  }
  return grpc;
}

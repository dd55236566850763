/**
 * The bounded window of chunks between "sent to the server" and "committed to Postgres".
 *
 * - {@link acquire} hands out sequence numbers 0, 1, 2, ... and waits while `capacity` chunks are
 *   outstanding, so the sender can never run further ahead of the database than the window: that wait is
 *   what turns a slow writer into HTTP/2 flow control on the stream (the server stops getting chunks, its
 *   answers stop being read, and its own window of STREAM_CHUNKS_IN_FLIGHT stays full).
 * - Answers arrive in any order ({@link complete}); {@link takeReady} returns only the contiguous prefix
 *   that is complete, in sequence order, so a checkpoint never jumps over a chunk still being scored.
 * - {@link release} frees the slots of chunks once they are committed.
 */
export class InFlightWindow<T> {
  private nextSeq = 0;
  private nextReady = 0;
  private outstanding = 0;
  private readonly completed = new Map<number, T>();
  private waiters: Array<() => void> = [];

  /** @param capacity Chunks outstanding at most (at least 1). */
  constructor(private readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`capacity must be at least 1, got ${capacity}`);
  }

  /** Chunks acquired and not yet released. */
  get size(): number {
    return this.outstanding;
  }

  /**
   * Waits for a free slot and returns the next sequence number.
   *
   * @returns `undefined` when `signal` aborts first (the slot is not taken).
   */
  async acquire(signal: AbortSignal): Promise<number | undefined> {
    while (this.outstanding >= this.capacity) {
      if (signal.aborted) return undefined;
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal.removeEventListener('abort', wake);
          resolve();
        };
        this.waiters.push(wake);
        signal.addEventListener('abort', wake, { once: true });
      });
    }
    if (signal.aborted) return undefined;
    this.outstanding++;
    return this.nextSeq++;
  }

  /** Records the outcome of chunk `seq`. */
  complete(seq: number, value: T): void {
    if (seq < this.nextReady || seq >= this.nextSeq || this.completed.has(seq)) {
      throw new RangeError(`chunk ${seq} is not outstanding`);
    }
    this.completed.set(seq, value);
  }

  /** Whether the next chunk in sequence is complete. */
  get hasReady(): boolean {
    return this.completed.has(this.nextReady);
  }

  /** Removes and returns the complete chunks that follow the last taken one without a gap, in order. */
  takeReady(): T[] {
    const ready: T[] = [];
    for (
      let value = this.completed.get(this.nextReady);
      value !== undefined;
      value = this.completed.get(this.nextReady)
    ) {
      this.completed.delete(this.nextReady++);
      ready.push(value);
    }
    return ready;
  }

  /** Frees `count` slots (chunks now committed) and wakes waiting senders. */
  release(count: number): void {
    this.outstanding -= count;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

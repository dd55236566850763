/**
 * A count kept in a plain number on the call path and handed to its prom-client counter before each
 * scrape: prom-client hashes the labels on every `inc`, even on a child from `labels()`, and the counters
 * of a call showed in the profile.
 */
export class Tally {
  private pending = 0;
  constructor(private readonly counter: { inc(value: number): void }) {}

  inc(by = 1): void {
    this.pending += by;
  }

  flush(): void {
    if (this.pending === 0) return;
    this.counter.inc(this.pending);
    this.pending = 0;
  }
}

/** Tallies flushed together before each scrape (`metrics.addSampler`). */
export class Tallies {
  private readonly all: Tally[] = [];

  constructor(metrics: { addSampler(sampler: () => void): void }) {
    metrics.addSampler(() => {
      for (const tally of this.all) tally.flush();
    });
  }

  /** A tally for `counter` (typically a labelled child), flushed with the others. */
  of(counter: { inc(value: number): void }): Tally {
    const tally = new Tally(counter);
    this.all.push(tally);
    return tally;
  }
}

import { createHash } from 'node:crypto';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

/**
 * A reproducible random stream for generated test inputs (fuzzing). It is seeded from SHA-256 of its
 * labels, so `new SeededRandom(seed, 'Score', 417)` yields the same values in every run: a failing input
 * is reproduced from the seed and its labels alone, whatever ran before it.
 */
export class SeededRandom {
  readonly #rng: RandomGenerator;

  constructor(...labels: ReadonlyArray<string | number>) {
    const digest = createHash('sha256').update(labels.join('\u0000')).digest();
    this.#rng = xoroshiro128plusFromState([
      digest.readInt32LE(0),
      digest.readInt32LE(4),
      digest.readInt32LE(8),
      digest.readInt32LE(12),
    ]);
  }

  /** Uniform in [0, 1). */
  float(): number {
    return uniformFloat64(this.#rng);
  }

  /** A uniform integer in [min, max] (both included). */
  int(min: number, max: number): number {
    return uniformInt(this.#rng, min, max);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** A uniform element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(0, items.length - 1)]!;
  }

  /** A size in [0, max], small sizes as likely as large ones (log-uniform), so edge sizes get tried. */
  size(max: number): number {
    return Math.min(max, Math.floor(Math.expm1(this.float() * Math.log1p(max + 1))));
  }

  /** `length` random bytes. */
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    const view = new DataView(out.buffer);
    let i = 0;
    for (; i + 4 <= length; i += 4) view.setUint32(i, this.int(0, 0xffffffff));
    for (; i < length; i++) out[i] = this.int(0, 255);
    return out;
  }
}

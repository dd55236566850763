import { createHash } from 'node:crypto';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

/**
 * A per-customer random stream with the few distributions the synthetic population needs.
 *
 * The stream is seeded from SHA-256 of `(seed, customerId)`, so a customer's values depend only on those two
 * numbers and never on which other customers were generated before it.
 */
export class CustomerRandom {
  readonly #rng: RandomGenerator;

  /**
   * @param seed - Population seed (any finite number; its decimal string is hashed).
   * @param customerId - Customer id (integer).
   */
  constructor(seed: number, customerId: number) {
    const digest = createHash('sha256').update(`customer:${seed}:${customerId}`).digest();
    this.#rng = xoroshiro128plusFromState([
      digest.readInt32LE(0),
      digest.readInt32LE(4),
      digest.readInt32LE(8),
      digest.readInt32LE(12),
    ]);
  }

  /** Uniform in [0, 1), 53 bits. */
  uniform(): number {
    return uniformFloat64(this.#rng);
  }

  /** Normal with the given mean and standard deviation (Box-Muller, consumes two uniforms). */
  normal(mean = 0, sd = 1): number {
    // 1 - u lies in (0, 1], so the logarithm is finite.
    const radius = Math.sqrt(-2 * Math.log(1 - this.uniform()));
    return mean + sd * radius * Math.cos(2 * Math.PI * this.uniform());
  }

  /** Log-normal whose logarithm has mean `mu` and standard deviation `sigma`. */
  logNormal(mu: number, sigma: number): number {
    return Math.exp(this.normal(mu, sigma));
  }

  /** Exponential with the given mean. */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.uniform());
  }

  /** True with probability `p`. */
  bernoulli(p: number): boolean {
    return this.uniform() < p;
  }

  /**
   * Poisson count with mean `lambda` (Knuth's product of uniforms; fine for the small means used here,
   * cost grows linearly with `lambda`, so keep `lambda` below a few dozen).
   */
  poisson(lambda: number): number {
    const limit = Math.exp(-lambda);
    let count = 0;
    let product = this.uniform();
    while (product > limit) {
      count += 1;
      product *= this.uniform();
    }
    return count;
  }

  /** Index drawn with probability proportional to `weights[index]`. */
  categorical(weights: readonly number[]): number {
    const total = weights.reduce((sum, weight) => sum + weight, 0);
    let threshold = this.uniform() * total;
    for (const [index, weight] of weights.entries()) {
      threshold -= weight;
      if (threshold < 0) return index;
    }
    return weights.length - 1;
  }
}

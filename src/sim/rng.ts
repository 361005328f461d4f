/**
 * The run's random numbers: one seeded xoroshiro128+ generator per run
 * (pure-rand), and for each actor an independent stream obtained by jumping
 * 2^64 steps ahead, so that adding or reordering one actor's draws never
 * changes another's. Same seed, same streams, on every machine.
 */
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { JumpableRandomGenerator } from 'pure-rand/types/JumpableRandomGenerator';

export class Rng {
  private constructor(private readonly g: JumpableRandomGenerator) {}

  static seeded(seed: number): Rng {
    return new Rng(xoroshiro128plus(seed | 0));
  }

  /** An integer in [lo, hi] (inclusive), uniformly. */
  int(lo: number, hi: number): number {
    return uniformInt(this.g, lo, hi);
  }

  /** A float in [0, 1) with 32 bits of randomness (enough for rates and choices). */
  float(): number {
    return uniformInt(this.g, 0, 0xffffffff) / 2 ** 32;
  }

  /** An exponentially distributed interval with the given mean (Poisson arrivals). */
  exp(mean: number): number {
    return -Math.log(1 - this.float()) * mean;
  }

  /** The n-th independent stream after this one (n jumps of 2^64); this generator is unchanged. */
  stream(n: number): Rng {
    let g = this.g.clone();
    for (let i = 0; i <= n; i++) {
      g = g.clone();
      g.jump();
    }
    return new Rng(g);
  }
}

/**
 * Smooth value noise for the procedural-faces generator: a periodic lattice of seeded random
 * values, interpolated with a smoothstep, summed over octaves. Used for natural skin texture,
 * hair strands, textured backgrounds and low-frequency blotches.
 *
 * @module
 */
import type { Rng } from "../../rng.ts";

/** A periodic lattice of random values in [-1, 1], sampled with smooth interpolation. */
export class ValueNoise {
  readonly #period: number;
  readonly #lattice: Float32Array;

  /** A `period × period` lattice drawn from `rng`. */
  constructor(rng: Rng, period = 16) {
    if (!Number.isInteger(period) || period < 2) {
      throw new Error(`ValueNoise: period must be an integer >= 2, got ${period}`);
    }
    this.#period = period;
    this.#lattice = new Float32Array(period * period);
    for (let i = 0; i < this.#lattice.length; i++) this.#lattice[i] = rng.uniform() * 2 - 1;
  }

  /** Noise at lattice coordinates `(x, y)` (one unit = one lattice cell); range [-1, 1]. */
  at(x: number, y: number): number {
    const p = this.#period;
    const fx = Math.floor(x), fy = Math.floor(y);
    let tx = x - fx, ty = y - fy;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    const x0 = ((fx % p) + p) % p, y0 = ((fy % p) + p) % p;
    const x1 = (x0 + 1) % p, y1 = (y0 + 1) % p;
    const l = this.#lattice;
    const a = l[y0 * p + x0], b = l[y0 * p + x1], c = l[y1 * p + x0], d = l[y1 * p + x1];
    const top = a + (b - a) * tx, bot = c + (d - c) * tx;
    return top + (bot - top) * ty;
  }

  /** Sum of `octaves` octaves (each twice the frequency, half the amplitude), normalised to ~[-1, 1]. */
  fractal(x: number, y: number, octaves: number): number {
    let acc = 0, amp = 1, norm = 0, f = 1;
    for (let o = 0; o < octaves; o++) {
      acc += amp * this.at(x * f + o * 17.3, y * f + o * 31.7);
      norm += amp;
      amp *= 0.5;
      f *= 2;
    }
    return acc / norm;
  }
}

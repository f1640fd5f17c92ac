import type { HeContext } from '../../he/context.ts';
import { encodeSlots } from '../../he/encoder.ts';
import type { Evaluator } from '../../he/evaluator.ts';
import type { Ciphertext, Plaintext } from '../../he/handles.ts';
import { NnError } from '../errors.ts';
import type { SlotBackend } from './executor.ts';

/**
 * The encrypted backend: {@link SlotBackend} over the `he` layer's Evaluator.
 *
 * Exact-scale rule: a plaintext factor is encoded at scale = the last prime q of the ciphertext's
 * level, so multiply-then-rescale returns exactly the scale it started from; a linear stage never
 * drifts the scale, and biases are encoded at the ciphertext's current scale.
 *
 * Plaintexts are cached by stage key, level and scale: the weights are encoded once per session
 * (the server's "encoded plan"), not per image. Dispose the backend to free them.
 */
export class HeBackend implements SlotBackend<Ciphertext> {
  readonly ctx: HeContext;
  readonly ev: Evaluator;
  readonly slots: number;
  readonly #cache = new Map<string, Plaintext>();

  constructor(ctx: HeContext, ev: Evaluator) {
    this.ctx = ctx;
    this.ev = ev;
    this.slots = ctx.params.slots;
  }

  /** Number of cached (encoded) plaintexts. */
  get cachedPlaintexts(): number {
    return this.#cache.size;
  }

  #plain(key: string, values: readonly number[], period: number, level: number, scale: number): Plaintext {
    const k = `${key}@${level}@${scale}`;
    let p = this.#cache.get(k);
    if (p === undefined) {
      p = encodeSlots(this.ctx, values, { level, scale, period });
      this.#cache.set(k, p);
    }
    return p;
  }

  rotate(x: Ciphertext, step: number): Ciphertext {
    return this.ev.rotate(x, step);
  }

  mulPlain(x: Ciphertext, key: string, values: readonly number[], period: number): Ciphertext {
    const level = x.level;
    const q = Number(this.ctx.level(level).primes.at(-1)!);
    return this.ev.multiplyPlain(x, this.#plain(key, values, period, level, q));
  }

  addPlain(x: Ciphertext, key: string, values: readonly number[], period: number): Ciphertext {
    return this.ev.addPlain(x, this.#plain(key, values, period, x.level, x.scale));
  }

  add(a: Ciphertext, b: Ciphertext): Ciphertext {
    return this.ev.add(a, b);
  }

  square(x: Ciphertext): Ciphertext {
    using sq = this.ev.square(x);
    return this.ev.relinearize(sq);
  }

  rescale(x: Ciphertext): Ciphertext {
    return this.ev.rescale(x);
  }

  clone(x: Ciphertext): Ciphertext {
    return x.clone();
  }

  alignTo(saved: Ciphertext, target: Ciphertext): Ciphertext {
    const same = Math.abs(saved.scale - target.scale) <= 1e-9 * target.scale;
    if (saved.level === target.level && same) return saved.clone();
    if (saved.level <= target.level) {
      throw new NnError(
        'NN_INVALID_ARGUMENT',
        `cannot align residual: saved value at level ${saved.level}, current at ${target.level} with another scale`,
      );
    }
    const q = Number(this.ctx.level(saved.level).primes.at(-1)!);
    using one = encodeSlots(this.ctx, [1], {
      level: saved.level,
      scale: (target.scale * q) / saved.scale,
      period: 1,
    });
    using m = this.ev.multiplyPlain(saved, one);
    using r = this.ev.rescale(m);
    return this.ev.modSwitchTo(r, target.level);
  }

  extract(x: Ciphertext, key: string, values: Float64Array, outScale: number): Ciphertext {
    const q = Number(this.ctx.level(x.level).primes.at(-1)!);
    const scale = (q * outScale) / x.scale;
    const k = `${key}@${x.level}@${scale}`;
    let p = this.#cache.get(k);
    if (p === undefined) {
      p = encodeSlots(this.ctx, values, { level: x.level, scale, period: this.slots });
      this.#cache.set(k, p);
    }
    using m = this.ev.multiplyPlain(x, p);
    // outScale up to double rounding; the same for every response of a plan (a function of it only).
    return this.ev.rescale(m);
  }

  free(x: Ciphertext): void {
    x[Symbol.dispose]();
  }

  [Symbol.dispose](): void {
    for (const p of this.#cache.values()) p[Symbol.dispose]();
    this.#cache.clear();
  }
}

/**
 * A small deterministic PRNG (mulberry32) so that training with the same seed gives the same model
 * bit for bit on the same machine. `Math.random` is never used in training.
 *
 * @example
 * ```ts
 * const rng = new Rng(42); rng.next(); rng.normal(); rng.shuffle(indices);
 * ```
 */
export class Rng {
  private _s: number;
  private _spare: number | undefined;
  constructor(seed: number) {
    this._s = seed >>> 0 || 0x9e3779b9;
    this._spare = undefined;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this._s = (this._s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Standard normal (Box–Muller, caching the second value). */
  normal(): number {
    if (this._spare !== undefined) {
      const s = this._spare;
      this._spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this._spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
  /** Fisher–Yates shuffle in place. */
  shuffle<T extends { length: number; [i: number]: number }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }
}

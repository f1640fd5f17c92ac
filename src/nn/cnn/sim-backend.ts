import { NnError } from '../errors.ts';
import type { SlotBackend } from './executor.ts';

/** A simulated ciphertext: all slot values, level, scale. */
export interface SimValue {
  readonly v: Float64Array;
  readonly level: number;
  readonly scale: number;
}

/** What the simulator needs to know about the parameters. */
export interface SimParams {
  readonly polyModulusDegree: number;
  /** Bit sizes of the primes, as in the parameter literal (first … special). */
  readonly coeffModulusBits: readonly number[];
  readonly scaleBits: number;
}

// A fixed table of standard normals, read from a random offset per operation: cheap, and
// statistically adequate for predicting accuracy (the errors are small and independent-ish).
const GAUSS = (() => {
  const t = new Float64Array(1 << 16);
  let s = 0x9e3779b9;
  const u = () => {
    s = (s + 0x6d2b79f5) | 0;
    let z = Math.imul(s ^ (s >>> 15), 1 | s);
    z = (z + Math.imul(z ^ (z >>> 7), 61 | z)) ^ z;
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = 0; i < t.length; i += 2) {
    const a = Math.max(u(), 1e-300);
    const b = u();
    const r = Math.sqrt(-2 * Math.log(a));
    t[i] = r * Math.cos(2 * Math.PI * b);
    t[i + 1] = r * Math.sin(2 * Math.PI * b);
  }
  return t;
})();

/**
 * Plaintext slot arithmetic that models CKKS: the same rotations, products and rescales as the
 * encrypted run, on float64 slot vectors, plus (when `noise` is on) Gaussian errors of the size
 * CKKS adds. Slot-domain error of a coefficient error with std σ is σ·√(N/2)/Δ:
 *
 * - encoding rounding (fresh input, every plaintext): σ = √(1/12)
 * - fresh secret-key encryption: σ = 3.2
 * - rescale (rounding e0 + e1·s, ternary s with ‖s‖² ≈ 2N/3): σ = √((1 + 2N/3)/12)
 * - key switching (rotation, relinearization), SEAL's one-special-prime hybrid scheme: each RNS
 *   digit c_j (uniform mod q_j) meets the key error (σ 3.2): σ² = Σ_j N·q_j²·3.2²/(3·P²) (digits in [0, q_j), not centred), plus
 *   the rounding of the mod-down by P. The first prime dominates when it is wider than the others.
 *
 * Scales follow the exact-scale rule the encrypted backend uses (plaintexts at the last prime,
 * approximated here by 2^bits). Use it to predict encrypted accuracy on thousands of images in
 * seconds, and to check packing without SEAL.
 */
export class SimBackend implements SlotBackend<SimValue> {
  readonly slots: number;
  readonly params: SimParams;
  readonly noise: boolean;
  #seed: number;
  readonly #sqrtHalfN: number;
  readonly #roundSigma: number;
  readonly #ksSigma: number[];

  constructor(params: SimParams, opts: { noise?: boolean; seed?: number } = {}) {
    this.params = params;
    this.slots = params.polyModulusDegree / 2;
    this.noise = opts.noise ?? true;
    this.#seed = (opts.seed ?? 1) >>> 0;
    const n = params.polyModulusDegree;
    this.#sqrtHalfN = Math.sqrt(n / 2);
    this.#roundSigma = Math.sqrt((1 + (2 * n) / 3) / 12);
    const bits = params.coeffModulusBits;
    const P = 2 ** bits[bits.length - 1];
    this.#ksSigma = [];
    for (let level = 0; level <= bits.length - 2; level++) {
      let v = this.#roundSigma ** 2;
      for (let j = 0; j <= level; j++) v += (n * (2 ** bits[j]) ** 2 * 3.2 ** 2) / (3 * P * P);
      this.#ksSigma[level] = Math.sqrt(v);
    }
  }

  /** Top level (fresh ciphertexts). */
  get maxLevel(): number {
    return this.params.coeffModulusBits.length - 2;
  }

  #lastPrime(level: number): number {
    return 2 ** this.params.coeffModulusBits[level];
  }

  #addNoise(v: Float64Array, sigmaSlots: number): void {
    if (!this.noise || sigmaSlots === 0) return;
    this.#seed = (Math.imul(this.#seed, 1664525) + 1013904223) >>> 0;
    let k = this.#seed & 0xffff;
    for (let i = 0; i < v.length; i++) {
      v[i] += GAUSS[k] * sigmaSlots;
      k = (k + 1) & 0xffff;
    }
  }

  #spread(values: readonly number[] | Float64Array, period: number): Float64Array {
    const out = new Float64Array(this.slots);
    for (let s = 0; s < this.slots; s += period)
      for (let i = 0; i < values.length; i++) out[s + i] = values[i];
    return out;
  }

  /** A fresh "encryption" of `values` repeated with `period`, at the top level and default scale. */
  encrypt(values: readonly number[] | Float64Array, period: number): SimValue {
    const scale = 2 ** this.params.scaleBits;
    const v = this.#spread(values, period);
    this.#addNoise(v, (Math.hypot(3.2, Math.sqrt(1 / 12)) * this.#sqrtHalfN) / scale);
    return { v, level: this.maxLevel, scale };
  }

  /** The slot values (what decryption + decoding gives). */
  decrypt(x: SimValue): Float64Array {
    return x.v;
  }

  rotate(x: SimValue, step: number): SimValue {
    const n = this.slots;
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) v[i] = x.v[(i + step) % n];
    this.#addNoise(v, (this.#ksSigma[x.level] * this.#sqrtHalfN) / x.scale);
    return { v, level: x.level, scale: x.scale };
  }

  mulPlain(x: SimValue, _key: string, values: readonly number[], period: number): SimValue {
    const q = this.#lastPrime(x.level);
    const p = this.#spread(values, period);
    this.#addNoise(p, (Math.sqrt(1 / 12) * this.#sqrtHalfN) / q);
    for (let i = 0; i < p.length; i++) p[i] *= x.v[i];
    return { v: p, level: x.level, scale: x.scale * q };
  }

  addPlain(x: SimValue, _key: string, values: readonly number[], period: number): SimValue {
    const p = this.#spread(values, period);
    this.#addNoise(p, (Math.sqrt(1 / 12) * this.#sqrtHalfN) / x.scale);
    for (let i = 0; i < p.length; i++) p[i] += x.v[i];
    return { v: p, level: x.level, scale: x.scale };
  }

  add(a: SimValue, b: SimValue): SimValue {
    if (a.level !== b.level)
      throw new NnError('NN_INVALID_ARGUMENT', `cannot add: levels ${a.level} and ${b.level}`);
    const v = new Float64Array(a.v.length);
    for (let i = 0; i < v.length; i++) v[i] = a.v[i] + b.v[i];
    return { v, level: a.level, scale: a.scale };
  }

  square(x: SimValue): SimValue {
    const v = new Float64Array(x.v.length);
    for (let i = 0; i < v.length; i++) v[i] = x.v[i] * x.v[i];
    this.#addNoise(v, (this.#ksSigma[x.level] * this.#sqrtHalfN) / (x.scale * x.scale));
    return { v, level: x.level, scale: x.scale * x.scale };
  }

  rescale(x: SimValue): SimValue {
    if (x.level === 0)
      throw new NnError('NN_INVALID_ARGUMENT', 'cannot rescale: simulated ciphertext at level 0');
    const scale = x.scale / this.#lastPrime(x.level);
    const v = Float64Array.from(x.v);
    this.#addNoise(v, (this.#roundSigma * this.#sqrtHalfN) / scale);
    return { v, level: x.level - 1, scale };
  }

  clone(x: SimValue): SimValue {
    return { v: Float64Array.from(x.v), level: x.level, scale: x.scale };
  }

  alignTo(saved: SimValue, target: SimValue): SimValue {
    if (saved.level === target.level && Math.abs(saved.scale - target.scale) <= 1e-9 * target.scale) {
      return this.clone(saved);
    }
    if (saved.level <= target.level) {
      throw new NnError(
        'NN_INVALID_ARGUMENT',
        `cannot align residual: saved level ${saved.level} ≤ current ${target.level}`,
      );
    }
    const v = Float64Array.from(saved.v);
    this.#addNoise(v, (this.#roundSigma * this.#sqrtHalfN) / target.scale);
    return { v, level: target.level, scale: target.scale };
  }

  extract(x: SimValue, _key: string, values: Float64Array, outScale: number): SimValue {
    if (x.level === 0)
      throw new NnError('NN_INVALID_ARGUMENT', 'cannot extract: simulated ciphertext at level 0');
    const q = this.#lastPrime(x.level);
    const v = new Float64Array(this.slots);
    for (let i = 0; i < v.length; i++) v[i] = x.v[i] * values[i];
    this.#addNoise(v, (Math.sqrt(1 / 12) * this.#sqrtHalfN * (outScale / x.scale)) / q);
    this.#addNoise(v, (this.#roundSigma * this.#sqrtHalfN) / outScale);
    return { v, level: x.level - 1, scale: outScale };
  }

  free(_x: SimValue): void {}
}

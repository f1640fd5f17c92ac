import type { _SealCiphertext } from './_seal.ts';
import type { HeContext } from './context.ts';
import { HeError } from './errors.ts';
import { Ciphertext, type Plaintext } from './handles.ts';
import type { EvaluationKeys } from './keys.ts';
import { describeLayout, type Layout, sameLayout } from './layout.ts';

/** Relative tolerance under which two CKKS scales count as equal (SEAL's own check is similar). */
const SCALE_TOLERANCE = 1e-9;

function closeScales(a: number, b: number): boolean {
  return Math.abs(a - b) <= SCALE_TOLERANCE * Math.max(Math.abs(a), Math.abs(b));
}

/**
 * Homomorphic operations with their preconditions checked before SEAL runs: same parameter set,
 * same level, same scale, same layout for additions, keys present for relinearization and exactly
 * the rotation step asked. Every method returns a new {@link Ciphertext} that the caller disposes.
 *
 * @example
 * const ev = new Evaluator(ctx, keys);
 * using sq = ev.rescale(ev.relinearize(ev.square(ct)));
 */
export class Evaluator {
  readonly context: HeContext;
  readonly keys: EvaluationKeys | undefined;

  constructor(context: HeContext, keys?: EvaluationKeys) {
    if (keys !== undefined && keys.context.params.fingerprint !== context.params.fingerprint) {
      throw new HeError(
        'HE_PRESET_MISMATCH',
        'cannot create evaluator: keys belong to another parameter set',
      );
    }
    this.context = context;
    this.keys = keys;
  }

  #own(x: Ciphertext | Plaintext, op: string): void {
    if (x.context.params.fingerprint !== this.context.params.fingerprint) {
      throw new HeError('HE_PRESET_MISMATCH', `cannot ${op}: operand belongs to another parameter set`);
    }
  }

  #pair(a: Ciphertext, b: Ciphertext | Plaintext, op: string, layouts: boolean): void {
    this.#own(a, op);
    this.#own(b, op);
    const la = a.level;
    const lb = b.level;
    if (la !== lb)
      throw new HeError(
        'HE_LEVEL_MISMATCH',
        `cannot ${op}: operands at levels ${la} and ${lb} (mod-switch the higher one down)`,
      );
    if (layouts && !sameLayout(a.layout, b.layout)) {
      throw new HeError(
        'HE_LAYOUT_MISMATCH',
        `cannot ${op}: layouts ${describeLayout(a.layout)} and ${describeLayout(b.layout)} differ`,
      );
    }
  }

  #scales(a: Ciphertext, b: Ciphertext | Plaintext, op: string): void {
    if (!closeScales(a.scale, b.scale)) {
      throw new HeError(
        'HE_SCALE_MISMATCH',
        `cannot ${op}: scales 2^${Math.log2(a.scale).toFixed(3)} and 2^${Math.log2(b.scale).toFixed(3)} differ`,
      );
    }
  }

  #out(op: string, layout: Layout, f: (dest: _SealCiphertext) => void): Ciphertext {
    const seal = this.context._seal;
    const dest = new seal.Ciphertext();
    try {
      this.context._call(op, () => f(dest));
    } catch (e) {
      dest.delete();
      throw e;
    }
    return new Ciphertext(this.context, dest, layout);
  }

  /**
   * Runs `f` with b's scale set to `scale` when they differ by float rounding only (SEAL compares
   * exactly otherwise), then restores it: operands are never changed by an operation.
   */
  #withScale<T>(b: Ciphertext | Plaintext, scale: number, f: () => T): T {
    const own = b.scale;
    if (own === scale) return f();
    b._raw.setScale(scale);
    try {
      return f();
    } finally {
      b._raw.setScale(own);
    }
  }

  add(a: Ciphertext, b: Ciphertext): Ciphertext {
    this.#pair(a, b, 'add', true);
    this.#scales(a, b, 'add');
    return this.#withScale(b, a.scale, () =>
      this.#out('add', a.layout, (d) => this.context._evaluator.add(a._raw, b._raw, d)),
    );
  }

  sub(a: Ciphertext, b: Ciphertext): Ciphertext {
    this.#pair(a, b, 'subtract', true);
    this.#scales(a, b, 'subtract');
    return this.#withScale(b, a.scale, () =>
      this.#out('subtract', a.layout, (d) => this.context._evaluator.sub(a._raw, b._raw, d)),
    );
  }

  negate(a: Ciphertext): Ciphertext {
    this.#own(a, 'negate');
    return this.#out('negate', a.layout, (d) => this.context._evaluator.negate(a._raw, d));
  }

  addPlain(a: Ciphertext, p: Plaintext): Ciphertext {
    this.#pair(a, p, 'add plaintext', false);
    this.#scales(a, p, 'add plaintext');
    return this.#withScale(p, a.scale, () =>
      this.#out('add plaintext', a.layout, (d) => this.context._evaluator.addPlain(a._raw, p._raw, d)),
    );
  }

  subPlain(a: Ciphertext, p: Plaintext): Ciphertext {
    this.#pair(a, p, 'subtract plaintext', false);
    this.#scales(a, p, 'subtract plaintext');
    return this.#withScale(p, a.scale, () =>
      this.#out('subtract plaintext', a.layout, (d) => this.context._evaluator.subPlain(a._raw, p._raw, d)),
    );
  }

  /** Ciphertext × plaintext; the result scale is the product of scales (rescale afterwards). */
  multiplyPlain(a: Ciphertext, p: Plaintext, resultLayout: Layout = a.layout): Ciphertext {
    this.#pair(a, p, 'multiply by plaintext', false);
    this.#checkScaleRoom(a.scale * p.scale, a.level, 'multiply by plaintext');
    return this.#out('multiply by plaintext', resultLayout, (d) =>
      this.context._evaluator.multiplyPlain(a._raw, p._raw, d),
    );
  }

  /** Ciphertext × ciphertext, giving a size-3 ciphertext (relinearize next). */
  multiply(a: Ciphertext, b: Ciphertext): Ciphertext {
    this.#pair(a, b, 'multiply', true);
    this.#checkScaleRoom(a.scale * b.scale, a.level, 'multiply');
    return this.#out('multiply', a.layout, (d) => this.context._evaluator.multiply(a._raw, b._raw, d));
  }

  square(a: Ciphertext): Ciphertext {
    this.#own(a, 'square');
    this.#checkScaleRoom(a.scale * a.scale, a.level, 'square');
    return this.#out('square', a.layout, (d) => this.context._evaluator.square(a._raw, d));
  }

  relinearize(a: Ciphertext): Ciphertext {
    this.#own(a, 'relinearize');
    if (this.keys === undefined)
      throw new HeError('HE_MISSING_RELIN_KEYS', 'cannot relinearize: the evaluator has no keys');
    const rk = this.keys._relinKeys;
    if (a.size === 2) return a.clone();
    return this.#out('relinearize', a.layout, (d) => this.context._evaluator.relinearize(a._raw, rk, d));
  }

  /** Divides by the last prime of the current level: level − 1, scale / q. */
  rescale(a: Ciphertext): Ciphertext {
    this.#own(a, 'rescale');
    if (a.level === 0)
      throw new HeError(
        'HE_DEPTH_EXHAUSTED',
        'cannot rescale: the ciphertext is at level 0 (choose a deeper preset)',
      );
    return this.#out('rescale', a.layout, (d) => this.context._evaluator.rescaleToNext(a._raw, d));
  }

  /** Drops primes down to `level` without changing the scale (values must already fit). */
  modSwitchTo(a: Ciphertext, level: number): Ciphertext {
    this.#own(a, 'mod-switch');
    const from = a.level;
    if (level > from)
      throw new HeError('HE_LEVEL_MISMATCH', `cannot mod-switch up from level ${from} to ${level}`);
    if (level === from) return a.clone();
    const pid = this.context._parmsIdOf(level);
    return this.#out('mod-switch', a.layout, (d) =>
      this.context._evaluator.cipherModSwitchTo(a._raw, pid, d),
    );
  }

  /** Rotates a slot-layout ciphertext left by `step` slots (cyclic within its period). */
  rotate(a: Ciphertext, step: number): Ciphertext {
    this.#own(a, 'rotate');
    if (a.layout.kind !== 'slots')
      throw new HeError('HE_LAYOUT_MISMATCH', 'cannot rotate: only slot layouts rotate');
    if (step === 0) return a.clone(); // the identity needs no key
    if (this.keys === undefined)
      throw new HeError('HE_MISSING_GALOIS_KEY', `cannot rotate by ${step}: the evaluator has no keys`);
    const gk = this.keys._galoisKeysFor(step);
    return this.#out('rotate', a.layout, (d) => this.context._evaluator.rotateVector(a._raw, step, gk, d));
  }

  /**
   * Sums each period-`n` block into every slot of the block with log2(n) rotations (steps n/2 … 1),
   * the classic InnerSum. Needs Galois keys for {@link innerSumSteps}(n).
   */
  innerSum(a: Ciphertext, n: number): Ciphertext {
    const steps = innerSumSteps(n);
    let acc = a.clone();
    try {
      for (const step of steps) {
        using r = this.rotate(acc, step);
        const next = this.add(acc, r);
        acc[Symbol.dispose]();
        acc = next;
      }
      return acc;
    } catch (e) {
      // A failed rotation (e.g. a missing Galois key) must not leak the partial sum's WASM memory.
      acc[Symbol.dispose]();
      throw e;
    }
  }

  /** Mod-switches the higher-level operand down so both sit at the same level. Returns new handles. */
  matchLevels(a: Ciphertext, b: Ciphertext): [Ciphertext, Ciphertext] {
    const l = Math.min(a.level, b.level);
    return [this.modSwitchTo(a, l), this.modSwitchTo(b, l)];
  }

  #checkScaleRoom(scale: number, level: number, op: string): void {
    const bits = this.context.level(level).primes.reduce((acc, q) => acc + Math.log2(Number(q)), 0);
    if (Math.log2(scale) >= bits - 1) {
      throw new HeError(
        'HE_DEPTH_EXHAUSTED',
        `cannot ${op}: result scale 2^${Math.log2(scale).toFixed(1)} does not fit the ${bits.toFixed(0)}-bit modulus at level ${level}`,
      );
    }
  }
}

/** Rotation steps InnerSum over a block of `n` (a power of two) uses: n/2, n/4, …, 1. */
export function innerSumSteps(n: number): number[] {
  if (!Number.isInteger(n) || n < 1 || (n & (n - 1)) !== 0) {
    throw new HeError('HE_INVALID_ARGUMENT', `cannot plan inner sum: "n" expected a power of two, got ${n}`);
  }
  const steps: number[] = [];
  for (let s = n / 2; s >= 1; s /= 2) steps.push(s);
  return steps;
}

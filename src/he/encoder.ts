import { _crtBasis, _fromRns, _toRns } from './_rns.ts';
import type { HeContext } from './context.ts';
import { HeError } from './errors.ts';
import { Plaintext } from './handles.ts';
import type { Layout } from './layout.ts';
import {
  readCiphertextData,
  readPlaintextData,
  writeCiphertextBytes,
  writePlaintextBytes,
} from './seal-format.ts';

/** Where and how to encode. Level defaults to the top data level; scale to the preset's default. */
export interface EncodeOptions {
  readonly level?: number;
  readonly scale?: number;
}

function resolve(ctx: HeContext, opts: EncodeOptions, op: string): { level: number; scale: number } {
  const level = opts.level ?? ctx.maxLevel;
  const scale = opts.scale ?? ctx.defaultScale;
  if (!Number.isFinite(scale) || scale < 1) {
    throw new HeError(
      'HE_INVALID_ARGUMENT',
      `cannot ${op}: "scale" expected a finite number ≥ 1, got ${scale}`,
    );
  }
  ctx.level(level);
  return { level, scale };
}

function checkValues(values: ArrayLike<number>, max: number, op: string): void {
  if (values === null || typeof values !== 'object' || typeof values.length !== 'number') {
    throw new HeError('HE_INVALID_ARGUMENT', `cannot ${op}: "values" expected an array of numbers`);
  }
  if (values.length === 0 || values.length > max) {
    throw new HeError(
      'HE_INVALID_ARGUMENT',
      `cannot ${op}: "values" length ${values.length} must be in 1…${max}`,
    );
  }
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]))
      throw new HeError('HE_INVALID_ARGUMENT', `cannot ${op}: values[${i}] is not finite`);
  }
}

/**
 * Refuses plaintext coefficients that reach half the modulus of `level`: they would wrap modulo the
 * primes and decode to garbage without any error (SEAL checks only against the top-level modulus,
 * and only for slot encoding).
 */
function checkFits(ctx: HeContext, level: number, maxCoeff: number, op: string): void {
  const bits = ctx.level(level).primes.reduce((acc, q) => acc + Math.log2(Number(q)), 0);
  if (Math.log2(maxCoeff) >= bits - 1) {
    throw new HeError(
      'HE_INVALID_ARGUMENT',
      `cannot ${op}: coefficients may reach 2^${Math.log2(maxCoeff).toFixed(1)}, half the ${bits.toFixed(0)}-bit modulus at level ${level} or more (they would wrap to garbage)`,
    );
  }
}

/** Smallest power of two ≥ n. */
export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * CKKS slot encoding. `values` are repeated with period `period` (default: next power of two ≥
 * length) over all N/2 slots, so rotations act cyclically within each period (see {@link Layout}).
 */
export function encodeSlots(
  ctx: HeContext,
  values: ArrayLike<number>,
  opts: EncodeOptions & { period?: number } = {},
): Plaintext {
  const slots = ctx.params.slots;
  checkValues(values, slots, 'encode slots');
  const { level, scale } = resolve(ctx, opts, 'encode slots');
  const period = opts.period ?? nextPow2(values.length);
  if (period < values.length || slots % period !== 0 || nextPow2(period) !== period) {
    throw new HeError(
      'HE_INVALID_ARGUMENT',
      `cannot encode slots: "period" ${period} must be a power of two ≥ ${values.length} dividing ${slots}`,
    );
  }
  const full = new Float64Array(slots);
  for (let start = 0; start < slots; start += period)
    for (let i = 0; i < values.length; i++) full[start + i] = values[i];
  if (level !== ctx.maxLevel) {
    // Below the top level SEAL checks nothing. Parseval bounds the coefficients without computing
    // them: ‖m‖∞ ≤ ‖m‖₂ = scale·RMS(all N/2 slots) = scale·√(Σ vᵢ² / period), exact for constants.
    let sq = 0;
    for (let i = 0; i < values.length; i++) sq += values[i] * values[i];
    checkFits(ctx, level, scale * Math.sqrt(sq / period) + 0.5, 'encode slots');
  }
  const seal = ctx._seal;
  const pt = new seal.Plaintext();
  ctx._call('encode slots', () => ctx._ckks.encode(full, scale, pt));
  if (level !== ctx.maxLevel)
    ctx._call('encode slots', () => ctx._evaluator.plainModSwitchToInplace(pt, ctx._parmsIdOf(level)));
  return new Plaintext(ctx, pt, { kind: 'slots', length: values.length, period });
}

/** Decodes the first `length` slots (default: the layout's length). */
export function decodeSlots(pt: Plaintext, length?: number): Float64Array {
  const ctx = pt.context;
  const all = ctx._call('decode slots', () => ctx._ckks.decodeFloat64(pt._raw)) as Float64Array;
  return Float64Array.from(all.subarray(0, length ?? pt.layout.length));
}

// SEAL refuses to transform a "transparent" ciphertext (second polynomial zero). The carrier's
// second polynomial is never read, so a constant 1 (valid in NTT and coefficient form alike) does.
function fillSecondPoly(data: BigUint64Array, n: number, l: number): void {
  for (let j = 0; j < l; j++) data.fill(1n, n * l + j * n, n * l + (j + 1) * n);
}

/**
 * @internal Builds an NTT-form CKKS plaintext from integer coefficients given in RNS (prime-major).
 * SEAL has no API for this, so the coefficients travel through a non-NTT ciphertext that SEAL
 * transforms (see seal-format.ts).
 */
export function _plainFromRns(
  ctx: HeContext,
  level: number,
  scale: number,
  rns: BigUint64Array,
  layout: Layout,
): Plaintext {
  const info = ctx.level(level);
  const n = ctx.params.polyModulusDegree;
  const l = info.primes.length;
  const data = new BigUint64Array(2 * n * l);
  data.set(rns);
  fillSecondPoly(data, n, l);
  const seal = ctx._seal;
  const ct = new seal.Ciphertext();
  try {
    ctx._call('encode coefficients', () => {
      ct.loadFromArray(
        ctx._ctx,
        writeCiphertextBytes({ parmsId: info.parmsId, isNtt: false, polys: 2, n, l, scale, data }),
      );
      ctx._evaluator.cipherTransformToNttInplace(ct);
    });
    const ntt = readCiphertextData(new Uint8Array(ct.saveToArray(seal.ComprModeType.none) as Uint8Array));
    const pt = new seal.Plaintext();
    ctx._call('encode coefficients', () =>
      pt.loadFromArray(
        ctx._ctx,
        writePlaintextBytes({ parmsId: info.parmsId, scale, data: ntt.subarray(0, n * l) }),
      ),
    );
    return new Plaintext(ctx, pt, layout);
  } finally {
    ct.delete();
  }
}

/** @internal The integer coefficients (prime-major RNS) of an NTT-form CKKS plaintext. */
export function _rnsFromPlain(pt: Plaintext): BigUint64Array {
  const ctx = pt.context;
  const level = pt.level;
  const info = ctx.level(level);
  const n = ctx.params.polyModulusDegree;
  const l = info.primes.length;
  const seal = ctx._seal;
  const coeffs = readPlaintextData(
    new Uint8Array(pt._raw.saveToArray(seal.ComprModeType.none) as Uint8Array),
  );
  const data = new BigUint64Array(2 * n * l);
  data.set(coeffs.subarray(0, n * l));
  fillSecondPoly(data, n, l);
  const ct = new seal.Ciphertext();
  try {
    ctx._call('decode coefficients', () => {
      ct.loadFromArray(
        ctx._ctx,
        writeCiphertextBytes({ parmsId: info.parmsId, isNtt: true, polys: 2, n, l, scale: pt.scale, data }),
      );
      ctx._evaluator.cipherTransformFromNttInplace(ct);
    });
    return readCiphertextData(new Uint8Array(ct.saveToArray(seal.ComprModeType.none) as Uint8Array)).subarray(
      0,
      n * l,
    );
  } finally {
    ct.delete();
  }
}

/**
 * CKKS coefficient encoding: `values[i]·scale` rounded into coefficient `positions[i]` (default i)
 * of the plaintext polynomial. Positions may be negative: X^(−k) = −X^(N−k) in Z[X]/(X^N+1).
 *
 * ```
 * m(X) = round(Δ·v0) + round(Δ·v1)·X + … + round(Δ·v(d−1))·X^(d−1)
 * ```
 */
export function encodeCoeffs(
  ctx: HeContext,
  values: ArrayLike<number>,
  opts: EncodeOptions & { positions?: readonly number[] } = {},
): Plaintext {
  const n = ctx.params.polyModulusDegree;
  if (ctx.params.scheme !== 'ckks')
    throw new HeError('HE_INVALID_ARGUMENT', 'cannot encode coefficients: not a CKKS context');
  checkValues(values, n, 'encode coefficients');
  const { level, scale } = resolve(ctx, opts, 'encode coefficients');
  const ints = new Float64Array(n);
  for (let i = 0; i < values.length; i++) {
    const p = opts.positions?.[i] ?? i;
    if (!Number.isInteger(p) || p <= -n || p >= n) {
      throw new HeError(
        'HE_INVALID_ARGUMENT',
        `cannot encode coefficients: position ${p} outside (−${n}, ${n})`,
      );
    }
    const v = Math.round(values[i] * scale);
    if (p >= 0) ints[p] += v;
    else ints[n + p] -= v; // negacyclic wrap
  }
  let maxCoeff = 0;
  for (let i = 0; i < n; i++) maxCoeff = Math.max(maxCoeff, Math.abs(ints[i]));
  checkFits(ctx, level, maxCoeff, 'encode coefficients');
  const layout: Layout = {
    kind: 'coeffs',
    length: values.length,
    ...(opts.positions ? { positions: [...opts.positions] } : {}),
  };
  return _plainFromRns(ctx, level, scale, _toRns(ints, n, ctx.level(level)), layout);
}

/** Reads coefficients `positions` of a CKKS plaintext as real values (divided by its scale). */
export function decodeCoeffs(pt: Plaintext, positions: readonly number[]): Float64Array {
  const ctx = pt.context;
  const n = ctx.params.polyModulusDegree;
  const rns = _rnsFromPlain(pt);
  const basis = _crtBasis(ctx.level(pt.level));
  const out = new Float64Array(positions.length);
  const scale = pt.scale;
  positions.forEach((p, k) => {
    if (!Number.isInteger(p) || p < 0 || p >= n)
      throw new HeError('HE_INVALID_ARGUMENT', `cannot decode coefficients: position ${p} outside [0, ${n})`);
    out[k] = Number(_fromRns(rns, n, p, basis)) / scale;
  });
  return out;
}

import { encodeSlots } from './encoder.ts';
import { HeError } from './errors.ts';
import type { Evaluator } from './evaluator.ts';
import type { Ciphertext } from './handles.ts';

/** Multiplicative depth of evaluating a degree-`d` polynomial with {@link evaluatePolynomial}. */
export function polynomialDepth(degree: number): number {
  if (degree <= 0) return 0;
  return Math.ceil(Math.log2(degree)) + 1;
}

/** Float64 twin of {@link evaluatePolynomial}: Σ c_k x^k by Horner's rule. */
export function polynomialPlain(coeffs: readonly number[], x: number): number {
  let acc = 0;
  for (let k = coeffs.length - 1; k >= 0; k--) acc = acc * x + coeffs[k];
  return acc;
}

function trimmed(coeffs: readonly number[]): number[] {
  const c = [...coeffs];
  while (c.length > 1 && c[c.length - 1] === 0) c.pop();
  return c;
}

/**
 * Evaluates p(x) = Σ c_k x^k slot-wise on a slot-layout ciphertext.
 *
 * Powers x^k come from a product tree (x^k = x^(2^⌊log k⌋)·x^(k−2^⌊log k⌋)), so depth is
 * ⌈log2 deg⌉ for the powers plus one for the coefficients. Each coefficient is encoded at the scale
 * that makes every term land on the same exact scale after its rescale (EVA-style exact scale
 * management), so the terms add without the "scale mismatch" drift of naive CKKS code. Padding
 * slots of the layout stay zero (coefficients are only placed in active slots).
 *
 * Needs relinearization keys for degree ≥ 2. Returns a ciphertext `polynomialDepth(deg)` levels lower.
 */
export function evaluatePolynomial(
  ev: Evaluator,
  x: Ciphertext,
  coefficients: readonly number[],
): Ciphertext {
  const ctx = ev.context;
  if (
    !Array.isArray(coefficients) ||
    coefficients.length === 0 ||
    coefficients.some((c) => !Number.isFinite(c))
  ) {
    throw new HeError(
      'HE_INVALID_ARGUMENT',
      'cannot evaluate polynomial: "coefficients" expected finite numbers',
    );
  }
  if (x.layout.kind !== 'slots')
    throw new HeError('HE_LAYOUT_MISMATCH', 'cannot evaluate polynomial: needs a slot layout');
  const c = trimmed(coefficients);
  const degree = c.length - 1;
  const depth = polynomialDepth(degree);
  if (depth > x.level) {
    throw new HeError(
      'HE_DEPTH_EXHAUSTED',
      `cannot evaluate a degree-${degree} polynomial: needs depth ${depth}, ciphertext has ${x.level} levels left`,
    );
  }
  const { length, period } = x.layout;
  const active = (v: number) => {
    const a = new Float64Array(length);
    a.fill(v);
    return a;
  };
  if (degree === 0) {
    throw new HeError(
      'HE_INVALID_ARGUMENT',
      'cannot evaluate polynomial: a constant polynomial needs no ciphertext',
    );
  }
  // Product tree of powers.
  const powers = new Map<number, Ciphertext>([[1, x.clone()]]);
  try {
    const power = (k: number): Ciphertext => {
      const have = powers.get(k);
      if (have) return have;
      const hi = 2 ** Math.floor(Math.log2(k));
      const a = power(hi === k ? k / 2 : hi);
      const b = power(hi === k ? k / 2 : k - hi);
      const [la, lb] = ev.matchLevels(a, b);
      using prod = a === b ? ev.square(la) : ev.multiply(la, lb);
      la[Symbol.dispose]();
      lb[Symbol.dispose]();
      using relin = ev.relinearize(prod);
      const p = ev.rescale(relin);
      powers.set(k, p);
      return p;
    };
    for (let k = 1; k <= degree; k++) if (c[k] !== 0) power(k);
    const used = [...powers.entries()].filter(([k]) => k <= degree && c[k] !== 0);
    const termLevel = Math.min(...used.map(([, p]) => p.level)); // level at which terms are multiplied
    const target = x.scale; // result scale: that of the input
    const q = Number(ctx.level(termLevel).primes.at(-1));
    let acc: Ciphertext | undefined;
    for (const [k, p] of used) {
      using at = ev.modSwitchTo(p, termLevel);
      using coeff = encodeSlots(ctx, active(c[k]), {
        level: termLevel,
        scale: (target * q) / p.scale,
        period,
      });
      using prod = ev.multiplyPlain(at, coeff);
      const term = ev.rescale(prod);
      if (acc === undefined) acc = term;
      else {
        const sum = ev.add(acc, term);
        acc[Symbol.dispose]();
        term[Symbol.dispose]();
        acc = sum;
      }
    }
    if (acc === undefined)
      throw new HeError(
        'HE_INVALID_ARGUMENT',
        'cannot evaluate polynomial: all non-constant coefficients are zero',
      );
    if (c[0] !== 0) {
      using c0 = encodeSlots(ctx, active(c[0]), { level: acc.level, scale: acc.scale, period });
      const withConst = ev.addPlain(acc, c0);
      acc[Symbol.dispose]();
      acc = withConst;
    }
    return acc;
  } finally {
    for (const p of powers.values()) p[Symbol.dispose]();
  }
}

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { _ckksTolerance, _maxAbsError, _seededValues } from './_tolerance.ts';
import { HeContext } from './context.ts';
import { decrypt, encryptSymmetric } from './crypt.ts';
import { decodeSlots, encodeSlots } from './encoder.ts';
import { HeError } from './errors.ts';
import { Evaluator } from './evaluator.ts';
import type { Ciphertext } from './handles.ts';
import { generateKeys, type KeySet } from './keys.ts';
import { evaluatePolynomial, polynomialDepth, polynomialPlain } from './polynomial.ts';

const PRESETS_UNDER_TEST = ['ckks-4096-d1', 'ckks-8192-d2', 'ckks-8192-d3'];
const PERIOD = 16;
interface Fixture {
  ctx: HeContext;
  keys: KeySet;
  ev: Evaluator;
}
const fixtures = new Map<string, Fixture>();

before(async () => {
  for (const name of PRESETS_UNDER_TEST) {
    const ctx = await HeContext.create(name);
    const keys = generateKeys(ctx, { relin: true });
    fixtures.set(name, { ctx, keys, ev: new Evaluator(ctx, keys) });
  }
});
after(() => {
  for (const { ctx, keys } of fixtures.values()) {
    keys[Symbol.dispose]();
    ctx[Symbol.dispose]();
  }
});

function throwsCode(f: () => unknown, code: string): void {
  assert.throws(f, (e: unknown) => e instanceof HeError && e.code === code);
}

function enc(f: Fixture, x: readonly number[]): Ciphertext {
  using pt = encodeSlots(f.ctx, x, { period: PERIOD });
  return encryptSymmetric(f.keys, pt);
}

test('polynomialDepth: ⌈log2 d⌉ for the powers + 1 for the coefficients', () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 8, 9].map((d) => polynomialDepth(d)),
    [0, 1, 2, 3, 3, 4, 4, 5],
  );
  assert.equal(polynomialPlain([1, -2, 3], 2), 1 - 4 + 12);
});

// Every case: [coefficients, presets deep enough]. Values x ∈ [−1, 1], so |p(x)| ≤ Σ|c_k|.
const CASES: [string, number[]][] = [
  ['x²', [0, 0, 1]],
  ['affine 0.5 − 2x', [0.5, -2]],
  ['degree 2 with all terms', [0.1, -0.4, 0.7]],
  ['degree 3 (sigmoid-like)', [0.5, 0.197, 0, -0.004]],
  ['degree 3 dense', [-0.3, 1.1, 0.25, -0.8]],
  ['degree 4 only x⁴ and x', [0, 0.5, 0, 0, 1.5]],
  ['degree 4 dense', [0.2, -0.1, 0.3, 0.05, -0.6]],
];

for (const name of PRESETS_UNDER_TEST) {
  describe(`evaluatePolynomial on ${name}`, () => {
    for (const [what, coeffs] of CASES) {
      const degree = coeffs.length - 1;
      test(`${what}: matches Horner in float64, consumes exactly polynomialDepth levels`, (t) => {
        const f = fixtures.get(name)!;
        const x = _seededValues(degree * 7 + 1, 10, 1);
        using ct = enc(f, x);
        const depth = polynomialDepth(degree);
        if (depth > ct.level) {
          throwsCode(() => evaluatePolynomial(f.ev, ct, coeffs), 'HE_DEPTH_EXHAUSTED');
          t.diagnostic(`depth ${depth} > ${ct.level}: refused with HE_DEPTH_EXHAUSTED`);
          return;
        }
        using y = evaluatePolynomial(f.ev, ct, coeffs);
        assert.equal(y.level, ct.level - depth);
        // Exact scale management: the result has the input's scale (up to float rounding).
        assert.ok(Math.abs(y.scale / ct.scale - 1) < 1e-9);
        using pt = decrypt(f.keys, y);
        const got = decodeSlots(pt, PERIOD);
        const twin = [...x.map((v) => polynomialPlain(coeffs, v)), ...new Array(PERIOD - x.length).fill(0)];
        // Each product + rescale adds ≤ the multiply bound, scaled by the coefficient mass Σ|c_k|.
        const mass = coeffs.reduce((a, c) => a + Math.abs(c), 0);
        const tol = depth * _ckksTolerance(f.ctx.params.polyModulusDegree, ct.scale, 'multiply', mass);
        const err = _maxAbsError(got, twin);
        assert.ok(err <= tol, `error ${err} > ${tol}`);
      });
    }
  });
}

describe('evaluatePolynomial argument errors', () => {
  test('constant, empty or non-finite coefficients; coefficient layouts', () => {
    const f = fixtures.get('ckks-8192-d2')!;
    using ct = enc(f, [0.5]);
    throwsCode(() => evaluatePolynomial(f.ev, ct, [3]), 'HE_INVALID_ARGUMENT');
    throwsCode(() => evaluatePolynomial(f.ev, ct, [1, 0, 0]), 'HE_INVALID_ARGUMENT');
    throwsCode(() => evaluatePolynomial(f.ev, ct, []), 'HE_INVALID_ARGUMENT');
    throwsCode(() => evaluatePolynomial(f.ev, ct, [1, Number.NaN]), 'HE_INVALID_ARGUMENT');
  });

  test('degree ≥ 2 without relinearization keys', () => {
    const f = fixtures.get('ckks-8192-d2')!;
    using ct = enc(f, [0.5]);
    throwsCode(() => evaluatePolynomial(new Evaluator(f.ctx), ct, [0, 0, 1]), 'HE_MISSING_RELIN_KEYS');
    // Degree 1 needs no keys at all.
    using y = evaluatePolynomial(new Evaluator(f.ctx), ct, [1, 2]);
    using pt = decrypt(f.keys, y);
    assert.ok(Math.abs(decodeSlots(pt)[0] - 2) < 1e-6);
  });
});

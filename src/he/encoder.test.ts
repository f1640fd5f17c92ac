import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { _ckksTolerance, _maxAbsError, _seededValues } from './_tolerance.ts';
import { HeContext } from './context.ts';
import { decrypt, encryptSymmetric } from './crypt.ts';
import { decodeCoeffs, decodeSlots, encodeCoeffs, encodeSlots, nextPow2 } from './encoder.ts';
import { HeError } from './errors.ts';
import { Evaluator } from './evaluator.ts';
import { generateKeys, type KeySet } from './keys.ts';

const PRESETS_UNDER_TEST = ['ckks-4096-d1', 'ckks-8192-d2', 'ckks-8192-d3'];
const fixtures = new Map<string, { ctx: HeContext; keys: KeySet }>();

before(async () => {
  for (const name of PRESETS_UNDER_TEST) {
    const ctx = await HeContext.create(name);
    fixtures.set(name, { ctx, keys: generateKeys(ctx) });
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

for (const name of PRESETS_UNDER_TEST) {
  describe(`encoder on ${name}`, () => {
    test('slot encode → decode round trip (no encryption)', () => {
      const { ctx } = fixtures.get(name)!;
      const n = ctx.params.polyModulusDegree;
      for (const length of [1, 7, 64, ctx.params.slots]) {
        const x = _seededValues(length, length, 4);
        using pt = encodeSlots(ctx, x);
        assert.deepEqual(pt.layout, { kind: 'slots', length, period: nextPow2(length) });
        assert.equal(pt.level, ctx.maxLevel);
        assert.equal(pt.scale, ctx.defaultScale);
        // Only the encoder's rounding (≤ 0.5 per coefficient) is in play: well under the fresh bound.
        const tol = _ckksTolerance(n, pt.scale, 'fresh', 4);
        assert.ok(_maxAbsError(decodeSlots(pt), x) <= tol, `length ${length}`);
      }
    });

    test('slot encode → encrypt → decrypt → decode', () => {
      const { ctx, keys } = fixtures.get(name)!;
      const x = _seededValues(1, 100, 1);
      using pt = encodeSlots(ctx, x);
      using ct = encryptSymmetric(keys, pt);
      using back = decrypt(keys, ct);
      // Fresh error: rounding + Gaussian noise (σ = 3.2) through the canonical embedding.
      const err = _maxAbsError(decodeSlots(back), x);
      assert.ok(err <= _ckksTolerance(ctx.params.polyModulusDegree, ct.scale, 'fresh'), `error ${err}`);
    });

    test('values repeat with the period over all N/2 slots (zero padding between copies)', () => {
      const { ctx } = fixtures.get(name)!;
      const x = [1.5, -2, 3];
      using pt = encodeSlots(ctx, x, { period: 8 });
      const all = decodeSlots(pt, ctx.params.slots);
      const tol = _ckksTolerance(ctx.params.polyModulusDegree, pt.scale, 'fresh', 3);
      for (let i = 0; i < all.length; i++) {
        const want = i % 8 < 3 ? x[i % 8] : 0;
        assert.ok(Math.abs(all[i] - want) <= tol, `slot ${i}`);
      }
    });

    test('level and scale options', () => {
      const { ctx } = fixtures.get(name)!;
      using pt = encodeSlots(ctx, [0.25, 0.5], { level: 0, scale: 2 ** 20 });
      assert.equal(pt.level, 0);
      assert.equal(pt.scale, 2 ** 20);
      // Scale 2^20: rounding error ≤ N/2^20 in the slots.
      assert.ok(_maxAbsError(decodeSlots(pt), [0.25, 0.5]) <= ctx.params.polyModulusDegree / 2 ** 20);
    });

    test('coefficient encode → decode is exact up to rounding (|error| ≤ 0.5/Δ)', () => {
      const { ctx } = fixtures.get(name)!;
      const n = ctx.params.polyModulusDegree;
      const x = _seededValues(2, 300, 8);
      using pt = encodeCoeffs(ctx, x);
      assert.deepEqual(pt.layout, { kind: 'coeffs', length: 300 });
      const got = decodeCoeffs(
        pt,
        x.map((_, i) => i),
      );
      assert.ok(_maxAbsError(got, x) <= 0.5 / pt.scale + 1e-15);
      // Untouched coefficients are exactly zero.
      assert.deepEqual([...decodeCoeffs(pt, [300, n - 1])], [0, 0]);
    });

    test('coefficient encoding through encryption: noise is not amplified by an embedding', () => {
      const { ctx, keys } = fixtures.get(name)!;
      const x = _seededValues(3, 50, 1);
      using pt = encodeCoeffs(ctx, x);
      using ct = encryptSymmetric(keys, pt);
      using back = decrypt(keys, ct);
      // SEAL clips its Gaussian (σ = 3.2) at 6σ ≈ 19.2, plus 0.5 rounding: |error| ≤ 20/Δ.
      const err = _maxAbsError(
        decodeCoeffs(
          back,
          x.map((_, i) => i),
        ),
        x,
      );
      assert.ok(err <= 20 / ct.scale, `error ${err}`);
    });

    test('negative positions wrap negacyclically: X^(−k) = −X^(N−k)', () => {
      const { ctx } = fixtures.get(name)!;
      const n = ctx.params.polyModulusDegree;
      using pt = encodeCoeffs(ctx, [1.25, -0.5, 2, 3], { positions: [0, -1, -(n - 1), 5] });
      const got = [...decodeCoeffs(pt, [0, n - 1, 1, 5])];
      assert.deepEqual(got, [1.25, 0.5, -2, 3]);
      // Two values at one position add.
      using twice = encodeCoeffs(ctx, [1, 2], { positions: [7, 7] });
      assert.deepEqual([...decodeCoeffs(twice, [7])], [3]);
    });

    test('rotation-free inner product: x at positions i times w at −i puts Σ xᵢwᵢ in coefficient 0', () => {
      const { ctx, keys } = fixtures.get(name)!;
      const d = 64;
      const x = _seededValues(4, d, 1);
      const w = _seededValues(5, d, 1);
      const positions = w.map((_, i) => -i);
      // Encode w at a smaller scale so that Δx·Δw fits one level even on ckks-4096-d1 (70 bits).
      const wScale = 2 ** 24;
      using px = encodeCoeffs(ctx, x);
      using pw = encodeCoeffs(ctx, w, { positions, scale: wScale });
      using cx = encryptSymmetric(keys, px);
      const ev = new Evaluator(ctx);
      using prod = ev.multiplyPlain(cx, pw);
      using back = decrypt(keys, prod);
      const twin = x.reduce((a, xi, i) => a + xi * w[i], 0);
      const [got] = decodeCoeffs(back, [0]);
      // Error: Σ|wᵢ|·(x noise ≤ 20/Δx) + Σ|xᵢ|·(w rounding ≤ 0.5/Δw) ≤ d·(20/Δx + 0.5/Δw).
      assert.ok(Math.abs(got - twin) <= d * (20 / cx.scale + 0.5 / wScale), `error ${got - twin}`);
    });
  });
}

describe('encoder argument errors', () => {
  test('invalid values, periods, positions, levels, scales', () => {
    const { ctx } = fixtures.get('ckks-8192-d2')!;
    const n = ctx.params.polyModulusDegree;
    throwsCode(() => encodeSlots(ctx, []), 'HE_INVALID_ARGUMENT');
    throwsCode(() => encodeSlots(ctx, [1, Number.NaN]), 'HE_INVALID_ARGUMENT');
    throwsCode(() => encodeSlots(ctx, [1, Number.POSITIVE_INFINITY]), 'HE_INVALID_ARGUMENT');
    throwsCode(() => encodeSlots(ctx, new Array(ctx.params.slots + 1).fill(0)), 'HE_INVALID_ARGUMENT');
    throwsCode(() => encodeSlots(ctx, [1, 2, 3], { period: 2 }), 'HE_INVALID_ARGUMENT');
    throwsCode(() => encodeSlots(ctx, [1, 2, 3], { period: 6 }), 'HE_INVALID_ARGUMENT');
    throwsCode(() => encodeSlots(ctx, [1], { period: ctx.params.slots * 2 }), 'HE_INVALID_ARGUMENT');
    throwsCode(() => encodeSlots(ctx, [1], { level: ctx.maxLevel + 1 }), 'HE_INVALID_ARGUMENT');
    throwsCode(() => encodeSlots(ctx, [1], { scale: Number.NaN }), 'HE_INVALID_ARGUMENT');
    throwsCode(() => encodeSlots(ctx, [1], { scale: 0.5 }), 'HE_INVALID_ARGUMENT');
    throwsCode(() => encodeCoeffs(ctx, [1], { positions: [n] }), 'HE_INVALID_ARGUMENT');
    throwsCode(() => encodeCoeffs(ctx, [1], { positions: [-n] }), 'HE_INVALID_ARGUMENT');
    throwsCode(() => encodeCoeffs(ctx, [1], { positions: [0.5] }), 'HE_INVALID_ARGUMENT');
    using pt = encodeCoeffs(ctx, [1]);
    throwsCode(() => decodeCoeffs(pt, [n]), 'HE_INVALID_ARGUMENT');
    throwsCode(() => decodeCoeffs(pt, [-1]), 'HE_INVALID_ARGUMENT');
  });

  test('values that would wrap modulo a lower level are refused, not silently corrupted', () => {
    const { ctx } = fixtures.get('ckks-8192-d2')!;
    // Level 0 of ckks-8192-d2 is one 60-bit prime: coefficients must stay below 2^59.
    throwsCode(() => encodeSlots(ctx, [100], { level: 0, scale: 2 ** 55 }), 'HE_INVALID_ARGUMENT');
    throwsCode(() => encodeCoeffs(ctx, [1e6], { level: 0, scale: 2 ** 40 }), 'HE_INVALID_ARGUMENT');
    throwsCode(() => encodeCoeffs(ctx, [2 ** 20], { scale: 2 ** 120 }), 'HE_INVALID_ARGUMENT');
    // Just inside the bound both still round-trip.
    using s = encodeSlots(ctx, [2 ** 18], { level: 0, scale: 2 ** 40 });
    assert.ok(Math.abs(decodeSlots(s)[0] - 2 ** 18) < 1e-3);
    using c = encodeCoeffs(ctx, [2 ** 18], { level: 0, scale: 2 ** 40 });
    assert.equal(decodeCoeffs(c, [0])[0], 2 ** 18);
    // A sparse slot vector has small coefficients (Parseval), so a large single value still fits.
    using sparse = encodeSlots(ctx, [2 ** 22, 0, 0, 0, 0, 0, 0, 0], {
      level: 0,
      scale: 2 ** 40,
      period: 4096,
    });
    assert.ok(Math.abs(decodeSlots(sparse)[0] - 2 ** 22) < 1e-2);
  });

  test('coefficient encoding refuses a BFV context', async () => {
    using bfv = await HeContext.create('bfv-4096');
    throwsCode(() => encodeCoeffs(bfv, [1]), 'HE_INVALID_ARGUMENT');
    throwsCode(() => encodeSlots(bfv, [1], { scale: 2 }), 'HE_INVALID_ARGUMENT');
  });

  test('use after dispose throws HE_DISPOSED', () => {
    const { ctx } = fixtures.get('ckks-8192-d2')!;
    const pt = encodeSlots(ctx, [1, 2]);
    pt[Symbol.dispose]();
    pt[Symbol.dispose](); // idempotent
    assert.equal(pt.disposed, true);
    throwsCode(() => decodeSlots(pt), 'HE_DISPOSED');
    throwsCode(() => pt.scale, 'HE_DISPOSED');
  });
});

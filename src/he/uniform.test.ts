import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeError } from './errors.ts';
import { uniforms53 } from './uniform.ts';

// Thresholds are ~6σ (or a χ² tail of ~1e-7): a correct sampler fails about once in ten million
// runs; a sampler that drops the low word, clamps the range or biases the top fails every time.
const N = 1 << 16;

test('uniforms53: exact multiples of 2^−53 in [0, 1), the low word used', () => {
  const u = uniforms53(N);
  assert.equal(u.length, N);
  let odd = 0;
  for (const v of u) {
    assert.ok(v >= 0 && v < 1, `out of range: ${v}`);
    const k = v * 2 ** 53;
    assert.ok(Number.isInteger(k), `not a multiple of 2^-53: ${v}`);
    odd += k % 2;
  }
  // The lowest bit comes from the second word: it must be a fair coin.
  assert.ok(Math.abs(odd / N - 0.5) < 6 * Math.sqrt(0.25 / N), `lowest bit set in ${odd} of ${N}`);
});

test('uniforms53: 64 equal bins are flat (χ², 63 degrees of freedom) and the mean is 1/2', () => {
  const u = uniforms53(N);
  const bins = new Array<number>(64).fill(0);
  let sum = 0;
  for (const v of u) {
    bins[Math.floor(v * 64)]++;
    sum += v;
  }
  const e = N / 64;
  const chi2 = bins.reduce((acc, c) => acc + (c - e) ** 2 / e, 0);
  assert.ok(chi2 < 130, `χ² = ${chi2.toFixed(1)} (63 dof; P(χ² > 130) ≈ 1e-6)`);
  assert.ok(Math.abs(sum / N - 0.5) < 6 * Math.sqrt(1 / 12 / N), `mean ${sum / N}`);
  // Two draws are independent (no reused buffer).
  assert.notDeepEqual(uniforms53(8), uniforms53(8));
});

test('uniforms53: more than one getRandomValues block, zero, and bad counts', () => {
  // 40,000 words > one 16,384-word call: values past the first 8,192 come from later calls.
  const big = uniforms53(20000);
  assert.equal(big.subarray(8192).indexOf(0), -1, 'values past the first block are drawn');
  assert.equal(uniforms53(0).length, 0);
  for (const bad of [-1, 1.5, Number.NaN])
    assert.throws(
      () => uniforms53(bad),
      (e: unknown) => e instanceof HeError && e.code === 'HE_INVALID_ARGUMENT' && /count/.test(e.message),
    );
});

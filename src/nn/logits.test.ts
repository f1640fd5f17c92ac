import assert from 'node:assert/strict';
import { test } from 'node:test';
import { argmax, softmax } from './logits.ts';

test('argmax: index of the largest value, the first on a tie', () => {
  assert.equal(argmax([0.1, 3, -2, 2.9]), 1);
  assert.equal(argmax(Float64Array.from([-5, -1, -1])), 1);
  assert.equal(argmax([7]), 0);
  assert.equal(argmax([]), 0);
});

test('softmax: sums to 1, keeps the order, shift-invariant and stable for large logits', () => {
  const p = softmax([1, 2, 3]);
  const e = [Math.exp(1), Math.exp(2), Math.exp(3)];
  const z = e[0] + e[1] + e[2];
  // Tolerance 1e-15: a few float64 roundings of values ≤ 1.
  for (const [i, v] of p.entries()) assert.ok(Math.abs(v - e[i] / z) < 1e-15, `p[${i}] = ${v}`);
  assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-15);
  assert.equal(argmax(p), 2);
  const big = softmax([1001, 1002, 1003]); // exp(1003) alone overflows to Infinity
  for (const [i, v] of big.entries()) assert.ok(Math.abs(v - p[i]) < 1e-15, `shifted p[${i}] = ${v}`);
  assert.deepEqual(Array.from(softmax([0, 0])), [0.5, 0.5]);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { naf, powerOfTwoSteps } from './tenseal-baseline.ts';

test('NAF decomposes a rotation into signed powers of two with no two adjacent', () => {
  for (let v = -300; v <= 300; v++) {
    const terms = naf(v);
    assert.equal(
      terms.reduce((a, b) => a + b, 0),
      v,
    );
    const bits = terms.map((t) => Math.log2(Math.abs(t))).sort((a, b) => a - b);
    for (let i = 1; i < bits.length; i++)
      assert.ok(bits[i] - bits[i - 1] >= 2, `adjacent terms in NAF(${v})`);
  }
  assert.deepEqual(naf(7), [-1, 8]);
  assert.deepEqual(naf(0), []);
});

test("SEAL's default Galois steps: ±2^i below the slot count, slots/2 once", () => {
  const s = powerOfTwoSteps(4096);
  assert.equal(s.length, 23);
  assert.ok(s.includes(2048) && !s.includes(-2048) && s.includes(-1) && s.includes(1024));
});

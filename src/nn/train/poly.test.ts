import assert from 'node:assert/strict';
import { test } from 'node:test';
import { balancedAccuracy } from './metrics.ts';
import { Poly2 } from './poly.ts';

test('Poly2 forward is a·x²+b·x+c and its gradients match finite differences', () => {
  const p = new Poly2('p', [4], { type: 'poly', init: [0.1, -0.5, 0.7] });
  const x = Float32Array.from([0.3, -1.2, 2, 0.05]);
  const dy = Float32Array.from([1, -0.5, 0.25, 2]);
  const y = p.forward(x);
  x.forEach((v, i) => {
    assert.ok(Math.abs(y[i] - (0.7 * v * v - 0.5 * v + 0.1)) < 1e-6);
  });
  const dx = p.backward(dy, 1, true).slice();
  const loss = () => p.forward(x).reduce((s, v, i) => s + v * dy[i], 0);
  const h = 1e-2;
  for (let k = 0; k < 3; k++) {
    const c = p.coeffs.value;
    const orig = c[k];
    c[k] = orig + h;
    const up = loss();
    c[k] = orig - h;
    const down = loss();
    c[k] = orig;
    assert.ok(Math.abs((up - down) / (2 * h) - p.coeffs.grad[k]) < 1e-3, `coeff ${k}`);
  }
  x.forEach((v, i) => {
    assert.ok(Math.abs(dx[i] - (2 * 0.7 * v - 0.5) * dy[i]) < 1e-5);
  });
});

test('balancedAccuracy is the mean per-class recall', () => {
  // class 0: 3/4 right, class 1: 0/1 right → (0.75 + 0) / 2.
  assert.equal(balancedAccuracy([0, 0, 0, 1, 0], [0, 0, 0, 0, 1]), 0.375);
  assert.ok(Number.isNaN(balancedAccuracy([], [])));
});

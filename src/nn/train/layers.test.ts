import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gemmNN, gemmNT, gemmTN } from './gemm.ts';
import type { LayerConfig } from './layer.ts';
import { sigmoidBce, softmaxCe } from './loss.ts';
import { Rng } from './rng.ts';
import { Sequential } from './sequential.ts';

// Finite-difference gradient checks: a scalar loss L = Σ r·y (fixed random r) or a real loss,
// compared with backprop for every parameter entry sampled and for the input.
function gradCheck(configs: LayerConfig[], inShape: number[], batch: number, loss?: 'bce' | 'ce'): void {
  const rng = new Rng(3);
  const net = new Sequential(inShape, configs, rng);
  for (const p of net.params()) {
    if (p.name.endsWith('.bias')) for (let i = 0; i < p.value.length; i++) p.value[i] = rng.normal() * 0.1;
  }
  const per = inShape.reduce((a, b) => a * b, 1);
  const x = Float32Array.from({ length: batch * per }, () => rng.normal());
  const outSize = net.outShape.reduce((a, b) => a * b, 1);
  const r = Float64Array.from({ length: batch * outSize }, () => rng.normal());
  const labels = Uint8Array.from(
    { length: batch },
    () => rng.int(Math.max(2, outSize)) % Math.max(2, outSize),
  );
  const f = (): number => {
    const y = net.forward(x, batch, false);
    if (loss === 'bce') return sigmoidBce(y, labels, [0.7, 1.4]).loss;
    if (loss === 'ce') return softmaxCe(y, labels, outSize, [1, 2, 0.5]).loss;
    let s = 0;
    for (let i = 0; i < y.length; i++) s += r[i] * y[i];
    return s;
  };
  net.zeroGrad();
  const y = net.forward(x, batch, true);
  const dy =
    loss === 'bce'
      ? sigmoidBce(y, labels, [0.7, 1.4]).grad
      : loss === 'ce'
        ? softmaxCe(y, labels, outSize, [1, 2, 0.5]).grad
        : Float32Array.from(r);
  const dx = net.backward(dy, batch, true).slice();
  const h = 1e-3;
  let checked = 0;
  let kinks = 0;
  const check = (arr: Float32Array, grad: ArrayLike<number>, what: string) => {
    for (let t = 0; t < Math.min(arr.length, 12); t++) {
      const i = rng.int(arr.length);
      const old = arr[i];
      const mid = f();
      arr[i] = old + h;
      const up = f();
      arr[i] = old - h;
      const down = f();
      arr[i] = old;
      const num = (up - down) / (2 * h);
      const tol = 2e-2 * Math.max(1, Math.abs(num));
      // ReLU/max-pool are piecewise linear: if the one-sided slopes disagree, x sits on a kink
      // (an argmax switch within ±h) and the central difference is meaningless there.
      if (Math.abs((up - mid) / h - (mid - down) / h) > tol) {
        kinks++;
        continue;
      }
      checked++;
      assert.ok(Math.abs(num - grad[i]) <= tol, `${what}[${i}]: numeric ${num} vs backprop ${grad[i]}`);
    }
  };
  for (const p of net.params()) check(p.value, p.grad, p.name);
  check(x, dx, 'input');
  assert.ok(kinks <= checked / 5, `too many kinks: ${kinks} of ${kinks + checked}`);
}

test('conv2d (padding, stride 2) + relu + gap + dense: gradients match finite differences', () => {
  gradCheck(
    [
      { type: 'conv2d', outChannels: 3, kernel: 3, stride: 2, padding: 1 },
      { type: 'relu' },
      { type: 'gap' },
      { type: 'dense', units: 2 },
    ],
    [2, 7, 7],
    2,
  );
});

test('x² activation in a dense MLP: gradients match finite differences', () => {
  gradCheck([{ type: 'dense', units: 4 }, { type: 'square' }, { type: 'dense', units: 2 }], [5], 3);
});

test('maxpool + avgpool + flatten + dense: gradients match finite differences', () => {
  // Max-pool is piecewise linear; random inputs make ties (and kinks within ±h) unlikely.
  gradCheck(
    [
      { type: 'conv2d', outChannels: 2, kernel: 3, stride: 1, padding: 0 },
      { type: 'maxpool', kernel: 2, stride: 2 },
      { type: 'avgpool', kernel: 2, stride: 1 },
      { type: 'flatten' },
      { type: 'dense', units: 3 },
    ],
    [1, 8, 8],
    3,
  );
});

test('weighted sigmoid BCE and softmax CE gradients match finite differences', () => {
  const cfg: LayerConfig[] = [
    { type: 'conv2d', outChannels: 2, kernel: 3, stride: 1, padding: 1 },
    { type: 'gap' },
    { type: 'dense', units: 1 },
  ];
  gradCheck(cfg, [1, 5, 5], 4, 'bce');
  gradCheck([cfg[0], cfg[1], { type: 'dense', units: 3 }], [1, 5, 5], 4, 'ce');
});

test('gemm kernels agree with a naive product', () => {
  const rng = new Rng(9);
  const [m, n, k] = [3, 5, 4];
  const a = Float32Array.from({ length: m * k }, () => rng.normal());
  const b = Float32Array.from({ length: k * n }, () => rng.normal());
  const naive = new Float32Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) naive[i * n + j] += a[i * k + p] * b[p * n + j];
  const c1 = new Float32Array(m * n);
  gemmNN(m, n, k, a, 0, b, 0, c1, 0);
  const bt = new Float32Array(n * k);
  for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) bt[j * k + p] = b[p * n + j];
  const c2 = new Float32Array(m * n);
  gemmNT(m, n, k, a, 0, bt, 0, c2, 0);
  const at = new Float32Array(k * m);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) at[p * m + i] = a[i * k + p];
  const c3 = new Float32Array(m * n);
  gemmTN(m, n, k, at, 0, b, 0, c3, 0);
  for (let i = 0; i < m * n; i++) {
    assert.ok(Math.abs(c1[i] - naive[i]) < 1e-5);
    assert.ok(Math.abs(c2[i] - naive[i]) < 1e-5);
    assert.ok(Math.abs(c3[i] - naive[i]) < 1e-5);
  }
});

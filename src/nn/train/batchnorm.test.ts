import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NnError } from '../errors.ts';
import { Adam } from './adam.ts';
import { BatchNorm } from './batchnorm.ts';
import { fit, type TensorData } from './fit.ts';
import { Rng } from './rng.ts';
import { Sequential } from './sequential.ts';

const EPS = 1e-5;

/** Float64 reference of the training-mode forward: per-channel batch mean and biased variance. */
function refTrain(
  x: ArrayLike<number>,
  batch: number,
  c: number,
  hw: number,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
): { y: Float64Array; mean: number[]; variance: number[] } {
  const y = new Float64Array(x.length);
  const mean: number[] = [];
  const variance: number[] = [];
  const m = batch * hw;
  for (let ch = 0; ch < c; ch++) {
    const idx: number[] = [];
    for (let b = 0; b < batch; b++) for (let j = 0; j < hw; j++) idx.push((b * c + ch) * hw + j);
    const mu = idx.reduce((s, i) => s + x[i], 0) / m;
    const v = idx.reduce((s, i) => s + (x[i] - mu) ** 2, 0) / m;
    for (const i of idx) y[i] = (gamma[ch] * (x[i] - mu)) / Math.sqrt(v + EPS) + beta[ch];
    mean.push(mu);
    variance.push(v);
  }
  return { y, mean, variance };
}

function gradCheck(shape: number[], batch: number): void {
  const rng = new Rng(11);
  const c = shape[0];
  const hw = shape.length === 3 ? shape[1] * shape[2] : 1;
  const bn = new BatchNorm('bn', shape, { type: 'batchnorm' });
  for (let ch = 0; ch < c; ch++) {
    bn.gamma.value[ch] = 0.5 + rng.next();
    bn.beta.value[ch] = rng.normal() * 0.3;
  }
  // Inputs with a per-channel offset and scale, as a conv output would have.
  const x = Float32Array.from({ length: batch * c * hw }, (_, i) => {
    const ch = Math.floor(i / hw) % c;
    return 2 * ch - 1 + (1 + ch) * rng.normal();
  });
  const r = Float32Array.from({ length: x.length }, () => rng.normal());
  const y = bn.forward(x, batch, true);
  const ref = refTrain(x, batch, c, hw, bn.gamma.value, bn.beta.value);
  y.forEach((v, i) => {
    assert.ok(
      Math.abs(v - ref.y[i]) <= 1e-5 * Math.max(1, Math.abs(ref.y[i])),
      `y[${i}] ${v} vs ${ref.y[i]}`,
    );
  });
  const dx = bn.backward(r, batch, true).slice();
  // Central differences of L = Σ r·y on the float64 reference (h = 1e-4: truncation ~1e-8, rounding
  // ~1e-12), against the float32 layer's backprop: tolerance 1e-4 · max(1, |numeric|).
  const h = 1e-4;
  const loss = (xs: ArrayLike<number>, g: ArrayLike<number>, bt: ArrayLike<number>) =>
    refTrain(xs, batch, c, hw, g, bt).y.reduce((s, v, i) => s + v * r[i], 0);
  const x64 = Float64Array.from(x);
  const g64 = Float64Array.from(bn.gamma.value);
  const b64 = Float64Array.from(bn.beta.value);
  const numeric = (arr: Float64Array, i: number) => {
    const old = arr[i];
    arr[i] = old + h;
    const up = loss(x64, g64, b64);
    arr[i] = old - h;
    const down = loss(x64, g64, b64);
    arr[i] = old;
    return (up - down) / (2 * h);
  };
  const close = (got: number, want: number, what: string) =>
    assert.ok(
      Math.abs(got - want) <= 1e-4 * Math.max(1, Math.abs(want)),
      `${what}: backprop ${got} vs numeric ${want}`,
    );
  for (let i = 0; i < x.length; i++) close(dx[i], numeric(x64, i), `dx[${i}]`);
  for (let ch = 0; ch < c; ch++) {
    close(bn.gamma.grad[ch], numeric(g64, ch), `dγ[${ch}]`);
    close(bn.beta.grad[ch], numeric(b64, ch), `dβ[${ch}]`);
  }
}

test('BatchNorm over [C, H, W]: backward matches float64 finite differences (x, γ, β)', () => {
  gradCheck([3, 2, 3], 4);
});

test('BatchNorm over features [C]: backward matches float64 finite differences (x, γ, β)', () => {
  gradCheck([5], 6);
});

test('BatchNorm training updates running statistics (momentum 0.1, unbiased variance); inference uses them', () => {
  const rng = new Rng(4);
  const shape = [2, 3, 3];
  const batch = 5;
  const bn = new BatchNorm('bn', shape, { type: 'batchnorm' });
  bn.gamma.value.set([1.3, 0.6]);
  bn.beta.value.set([0.25, -0.4]);
  const x = Float32Array.from({ length: batch * 18 }, () => 1 + 2 * rng.normal());
  bn.forward(x, batch, true);
  const { mean, variance } = refTrain(x, batch, 2, 9, [1, 1], [0, 0]);
  const m = batch * 9;
  for (let ch = 0; ch < 2; ch++) {
    assert.ok(Math.abs(bn.runningMean[ch] - 0.1 * mean[ch]) < 1e-12);
    assert.ok(Math.abs(bn.runningVar[ch] - (0.9 + (0.1 * variance[ch] * m) / (m - 1))) < 1e-12);
  }
  // Inference: the fixed affine map of the running statistics, the same for a sample alone or in a
  // batch, and the statistics do not move.
  bn.runningMean.set([0.7, -1.2]);
  bn.runningVar.set([2.5, 0.3]);
  const y = bn.forward(x, batch, false).slice();
  for (let i = 0; i < x.length; i++) {
    const ch = Math.floor(i / 9) % 2;
    const want =
      (bn.gamma.value[ch] * (x[i] - bn.runningMean[ch])) / Math.sqrt(bn.runningVar[ch] + EPS) +
      bn.beta.value[ch];
    assert.ok(Math.abs(y[i] - want) <= 1e-6 * Math.max(1, Math.abs(want)), `y[${i}] ${y[i]} vs ${want}`);
  }
  assert.deepEqual(bn.forward(x.subarray(18, 36), 1, false), y.subarray(18, 36));
  assert.deepEqual(Array.from(bn.runningMean), [0.7, -1.2]);
  assert.deepEqual(Array.from(bn.runningVar), [2.5, 0.3]);
  // Training mode normalises with the batch's own statistics instead (per-channel mean ≈ β).
  const yt = bn.forward(x, batch, true);
  let s = 0;
  for (let b = 0; b < batch; b++) for (let j = 0; j < 9; j++) s += yt[b * 18 + j];
  assert.ok(Math.abs(s / m - bn.beta.value[0]) < 1e-5);
});

test('BatchNorm γ/β are not weight-decayed by AdamW; conv weights are', () => {
  const net = new Sequential(
    [1, 4, 4],
    [{ type: 'conv2d', outChannels: 2, kernel: 3, stride: 1, padding: 1 }, { type: 'batchnorm' }],
    new Rng(1),
  );
  const bn = net.layers[1] as BatchNorm;
  bn.gamma.value.set([1.5, 0.5]);
  bn.beta.value.set([0.25, -0.75]);
  const w0 = net.params()[0].value.slice();
  const opt = new Adam(net.params(), { lr: 0.1, weightDecay: 0.5 });
  net.zeroGrad(); // zero gradients: only the decoupled decay can move a value
  opt.step();
  assert.deepEqual(Array.from(bn.gamma.value), [1.5, 0.5]);
  assert.deepEqual(Array.from(bn.beta.value), [0.25, -0.75]);
  const w1 = net.params()[0].value;
  for (const [i, v] of w0.entries()) assert.ok(Math.abs(w1[i] - v * 0.95) <= 1e-6 * Math.abs(v));
});

test('Sequential exposes BatchNorm buffers; bad shapes and options are refused', () => {
  const net = new Sequential(
    [6],
    [{ type: 'dense', units: 3 }, { type: 'batchnorm', momentum: 0.2 }, { type: 'square' }],
    new Rng(2),
  );
  assert.deepEqual(
    net.buffers().map((b) => b.name),
    ['l1.running_mean', 'l1.running_var'],
  );
  assert.deepEqual(
    net.params().map((p) => p.name),
    ['l0.weight', 'l0.bias', 'l1.gamma', 'l1.beta'],
  );
  const isCode = (code: string) => (e: unknown) => e instanceof NnError && e.code === code;
  assert.throws(() => new BatchNorm('b', [2, 3], { type: 'batchnorm' }), isCode('NN_SHAPE_MISMATCH'));
  assert.throws(
    () => new BatchNorm('b', [2], { type: 'batchnorm', momentum: 0 }),
    isCode('NN_INVALID_ARGUMENT'),
  );
  assert.throws(
    () => new BatchNorm('b', [2], { type: 'batchnorm', epsilon: -1 }),
    isCode('NN_INVALID_ARGUMENT'),
  );
  assert.throws(
    () => new BatchNorm('b', [2], { type: 'batchnorm' }).backward(new Float32Array(2), 1, true),
    isCode('NN_INVALID_ARGUMENT'),
  );
  const snap = net.snapshot();
  assert.throws(
    () => net.restore({ params: snap.params, buffers: snap.buffers.slice(1) }),
    isCode('NN_SHAPE_MISMATCH'),
  );
});

test('fit restores the best epoch’s BatchNorm running statistics with its weights', () => {
  // Train on bright-left vs bright-right; validate on the same images with flipped labels, so the
  // validation loss grows as the net learns and an early epoch is the best one, not the last.
  const make = (n: number, seed: number, flip: boolean): TensorData => {
    const rng = new Rng(seed);
    const x = new Float32Array(n * 36);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const left = rng.int(2);
      labels[i] = flip ? 1 - left : left;
      for (let p = 0; p < 36; p++) x[i * 36 + p] = rng.normal() * 0.3 + (p % 6 < 3 === (left === 1) ? 1 : 0);
    }
    return { x, labels, n, shape: [1, 6, 6] };
  };
  const net = new Sequential(
    [1, 6, 6],
    [
      { type: 'conv2d', outChannels: 3, kernel: 3, stride: 1, padding: 1 },
      { type: 'batchnorm' },
      { type: 'relu' },
      { type: 'flatten' },
      { type: 'dense', units: 1 },
    ],
    new Rng(2),
  );
  const bn = net.layers[1] as BatchNorm;
  const perEpoch: { mean: Float64Array; variance: Float64Array; params: Float32Array[] }[] = [];
  const r = fit(net, make(160, 1, false), make(60, 2, true), {
    epochs: 3,
    batchSize: 16,
    lr: 0.01,
    seed: 4,
    outputs: 1,
    select: 'loss',
    onEpoch: () =>
      perEpoch.push({
        mean: bn.runningMean.slice(),
        variance: bn.runningVar.slice(),
        params: net.params().map((p) => p.value.slice()),
      }),
  });
  assert.ok(r.bestEpoch < 3, `the setup must make an earlier epoch the best (got ${r.bestEpoch})`);
  const best = perEpoch[r.bestEpoch - 1];
  const last = perEpoch[2];
  assert.notDeepEqual(best.mean, last.mean, 'running statistics moved after the best epoch');
  assert.deepEqual(bn.runningMean, best.mean);
  assert.deepEqual(bn.runningVar, best.variance);
  assert.deepEqual(
    net.params().map((p) => p.value),
    best.params,
  );
});

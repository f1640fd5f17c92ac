import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Adam } from './adam.ts';
import { fit } from './fit.ts';
import { balancedClassWeights } from './loss.ts';
import { accuracy, macroAuc, rocAuc } from './metrics.ts';
import { Rng } from './rng.ts';
import { Sequential } from './sequential.ts';

test('Rng is deterministic per seed and roughly uniform/normal', () => {
  const a = new Rng(5);
  const b = new Rng(5);
  const xs = Array.from({ length: 2000 }, () => a.next());
  assert.deepEqual(
    xs,
    Array.from({ length: 2000 }, () => b.next()),
  );
  const mean = xs.reduce((s, v) => s + v, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.03);
  const ns = Array.from({ length: 4000 }, () => a.normal());
  const nm = ns.reduce((s, v) => s + v, 0) / ns.length;
  const nv = ns.reduce((s, v) => s + (v - nm) ** 2, 0) / ns.length;
  assert.ok(Math.abs(nm) < 0.06 && Math.abs(nv - 1) < 0.1);
});

test('AdamW decays conv/dense weights but not biases or poly coefficients', () => {
  const net = new Sequential(
    [1, 4, 4],
    [
      { type: 'conv2d', outChannels: 2, kernel: 3, stride: 1, padding: 1 },
      { type: 'poly', init: [0.5, 0.25, 1] },
      { type: 'dense', units: 3 },
    ],
    new Rng(3),
  );
  for (const p of net.params()) p.value.fill(2);
  const opt = new Adam(net.params(), { lr: 0.1, weightDecay: 0.5 });
  net.zeroGrad(); // zero gradients: only the decoupled decay can move a value
  opt.step();
  for (const p of net.params()) {
    const want = p.name.endsWith('.weight') ? 2 * 0.95 : 2;
    for (const v of p.value) assert.ok(Math.abs(v - want) <= 1e-6, `${p.name}: ${v} vs ${want}`);
  }
});

test('rocAuc handles ties and perfect separation', () => {
  assert.equal(rocAuc([0.1, 0.9, 0.4], [0, 1, 1]), 1);
  assert.equal(rocAuc([0.5, 0.5], [0, 1]), 0.5);
  assert.equal(rocAuc([0.9, 0.1, 0.4, 0.3], [0, 1, 1, 0]), 0.25);
  assert.ok(Number.isNaN(rocAuc([1, 2], [1, 1])));
  assert.equal(accuracy([1, 0, 1], [1, 1, 1]), 2 / 3);
  assert.equal(macroAuc([0.2, 0.8, 0.7, 0.3], [1, 0], 2), 1);
});

test('balanced class weights equalise class mass', () => {
  const w = balancedClassWeights([1214, 3494]);
  assert.ok(Math.abs(w[0] * 1214 - w[1] * 3494) < 1e-9);
  assert.ok(Math.abs(w[0] * 1214 + w[1] * 3494 - 4708) < 1e-9);
});

test('fit learns a separable toy problem deterministically and keeps the best epoch', () => {
  // Bright-left vs bright-right 6×6 images.
  const make = (n: number, seed: number) => {
    const rng = new Rng(seed);
    const x = new Float32Array(n * 36);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      labels[i] = rng.int(2);
      for (let p = 0; p < 36; p++)
        x[i * 36 + p] = rng.normal() * 0.3 + (p % 6 < 3 === (labels[i] === 1) ? 1 : 0);
    }
    return { x, labels, n, shape: [1, 6, 6] };
  };
  const run = () => {
    const net = new Sequential(
      [1, 6, 6],
      [
        { type: 'conv2d', outChannels: 4, kernel: 3, stride: 1, padding: 1 },
        { type: 'relu' },
        { type: 'flatten' },
        { type: 'dense', units: 1 },
      ],
      new Rng(2),
    );
    const r = fit(net, make(200, 1), make(100, 2), {
      epochs: 4,
      batchSize: 16,
      lr: 0.01,
      seed: 4,
      outputs: 1,
      augment: { maxShift: 0, flip: false },
    });
    return { r, w: net.params()[0].value.slice() };
  };
  const a = run();
  const b = run();
  assert.deepEqual(a.w, b.w);
  assert.ok(a.r.bestVal.accuracy > 0.95, `val accuracy ${a.r.bestVal.accuracy}`);
  assert.equal(a.r.history.length, 4);
  assert.ok(a.r.history[a.r.bestEpoch - 1].isBest);
});

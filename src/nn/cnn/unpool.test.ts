import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tinyColourCnn } from '../../../test/fixtures/cnn-models.ts';
import { Rng } from '../train/rng.ts';
import { parseCnnModel } from './ir.ts';
import { referenceForward } from './reference.ts';
import { unpoolLastAvgpool } from './unpool.ts';

const rng = new Rng(5);
const rand = (n: number) => Array.from({ length: n }, () => rng.next() * 2 - 1);
// conv 2→3 3×3 pad 1 on 6×6 → x² → avgpool 2×2 → flatten (27) → dense 27→4.
const pooled = parseCnnModel({
  format: 'blinddx-cnn',
  version: 1,
  name: 'pooled',
  inputShape: [2, 6, 6],
  layers: [
    {
      op: 'conv2d',
      inChannels: 2,
      outChannels: 3,
      kernel: [3, 3],
      stride: [1, 1],
      padding: [1, 1],
      weight: rand(54),
      bias: rand(3),
    },
    { op: 'poly', coeffs: [0, 0, 1] },
    { op: 'avgpool2d', kernel: [2, 2], stride: [2, 2], padding: [0, 0] },
    { op: 'flatten' },
    { op: 'dense', inFeatures: 27, outFeatures: 4, weight: rand(108), bias: rand(4) },
  ],
});

test('unpoolLastAvgpool: drops the pool, dense 27→4 becomes 108→4, same outputs to 1e-12', () => {
  const un = unpoolLastAvgpool(pooled);
  assert.deepEqual(
    un.layers.map((l) => l.op),
    ['conv2d', 'poly', 'flatten', 'dense'],
  );
  const d = un.layers[3];
  assert.ok(d.op === 'dense' && d.inFeatures === 108 && d.outFeatures === 4);
  for (let t = 0; t < 4; t++) {
    const x = Float64Array.from(rand(72));
    const a = referenceForward(pooled, x);
    const b = referenceForward(un, x);
    a.forEach((v, k) => {
      assert.ok(Math.abs(v - b[k]) < 1e-12, `output ${k}: ${v} vs ${b[k]}`);
    });
  }
});

test('unpoolLastAvgpool: a model without avgpool → flatten → dense is refused with NN_INVALID_ARGUMENT', () => {
  assert.throws(() => unpoolLastAvgpool(tinyColourCnn()), { code: 'NN_INVALID_ARGUMENT' });
  const layers = pooled.layers.map((l) =>
    l.op === 'avgpool2d' ? { ...l, kernel: [3, 3] as const, stride: [3, 3] as const } : l,
  );
  assert.throws(
    () =>
      unpoolLastAvgpool({
        ...pooled,
        layers: [...layers.slice(0, 4), { ...pooled.layers[4], inFeatures: 12, weight: rand(48) }],
      } as typeof pooled),
    { code: 'NN_INVALID_ARGUMENT' },
  );
});

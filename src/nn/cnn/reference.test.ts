import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NnError } from '../errors.ts';
import { foldBatchNorm } from './fold-batchnorm.ts';
import { type CnnModel, modelShapes, parseCnnModel } from './ir.ts';
import { referenceForward, referenceLayer } from './reference.ts';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}
const rand = (n: number, r: () => number) => Array.from({ length: n }, r);

test('conv2d reference matches a hand computation (stride, padding, two channels)', () => {
  // input 2×3×3, kernel 1×2×2, stride 2, padding 1 → output 1×2×2
  const x = Float64Array.from({ length: 18 }, (_, i) => i + 1);
  const weight = [1, 0, 0, 0, 0, 0, 0, 1]; // picks in[0][r][s] at (u,v)=(0,0) and in[1] at (1,1)
  const y = referenceLayer(
    {
      op: 'conv2d',
      inChannels: 2,
      outChannels: 1,
      kernel: [2, 2],
      stride: [2, 2],
      padding: [1, 1],
      weight,
      bias: [0.5],
    },
    x,
    [2, 3, 3],
  );
  // window (0,0): in0[-1][-1]=0 (pad) + in1[0][0]=10 → 10.5
  // window (0,1): in0[-1][1]=0 + in1[0][2]=12 → 12.5
  // window (1,0): in0[1][-1]=0 + in1[2][0]=16 → 16.5
  // window (1,1): in0[1][1]=5 + in1[2][2]=18 → 23.5
  assert.deepEqual([...y], [10.5, 12.5, 16.5, 23.5]);
});

test('avgpool, global average pool, dense, poly and add references', () => {
  const x = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8]); // 2×2×2
  assert.deepEqual(
    [...referenceLayer({ op: 'avgpool2d', kernel: [2, 2], stride: [2, 2], padding: [0, 0] }, x, [2, 2, 2])],
    [2.5, 6.5],
  );
  assert.deepEqual([...referenceLayer({ op: 'globalavgpool' }, x, [2, 2, 2])], [2.5, 6.5]);
  const d = referenceLayer(
    { op: 'dense', inFeatures: 2, outFeatures: 2, weight: [1, 2, 3, 4], bias: [1, -1] },
    Float64Array.from([1, 1]),
    [2],
  );
  assert.deepEqual([...d], [4, 6]);
  assert.deepEqual([...referenceLayer({ op: 'poly', coeffs: [1, 2, 3] }, Float64Array.from([2]), [1])], [17]);
  const model: CnnModel = {
    format: 'blinddx-cnn',
    version: 1,
    name: 't',
    inputShape: [2],
    layers: [
      { op: 'poly', coeffs: [0, 0, 1] },
      { op: 'add', from: -1 },
    ],
  };
  assert.deepEqual([...referenceForward(model, Float64Array.from([2, 3]))], [6, 12]);
});

test('folding BatchNorm into the preceding conv/dense keeps the function', () => {
  const r = rng(7);
  const model: CnnModel = {
    format: 'blinddx-cnn',
    version: 1,
    name: 'bn',
    inputShape: [2, 5, 5],
    layers: [
      {
        op: 'conv2d',
        inChannels: 2,
        outChannels: 3,
        kernel: [3, 3],
        stride: [1, 1],
        padding: [1, 1],
        weight: rand(54, r),
        bias: rand(3, r),
      },
      {
        op: 'batchnorm',
        gamma: rand(3, r),
        beta: rand(3, r),
        mean: rand(3, r),
        variance: [0.5, 1, 2],
        epsilon: 1e-5,
      },
      { op: 'poly', coeffs: [0, 0.5, 0.25] },
      { op: 'flatten' },
      { op: 'dense', inFeatures: 75, outFeatures: 4, weight: rand(300, r) },
      {
        op: 'batchnorm',
        gamma: rand(4, r),
        beta: rand(4, r),
        mean: rand(4, r),
        variance: [1, 1, 1, 1],
        epsilon: 1e-3,
      },
    ],
  };
  const folded = foldBatchNorm(model);
  assert.equal(folded.layers.length, 4);
  assert.ok(folded.layers.every((l) => l.op !== 'batchnorm'));
  const x = Float64Array.from(rand(50, r));
  const a = referenceForward(model, x);
  const b = referenceForward(folded, x);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-12, `logit ${i}`);
});

test('the JSON form round-trips and bad models name the field', () => {
  const model: CnnModel = {
    format: 'blinddx-cnn',
    version: 1,
    name: 'j',
    inputShape: [1, 4, 4],
    preprocessing: { scale: 1 / 255, mean: [0.1], std: [0.3] },
    layers: [
      {
        op: 'conv2d',
        inChannels: 1,
        outChannels: 2,
        kernel: [2, 2],
        stride: [2, 2],
        padding: [0, 0],
        weight: [1, 2, 3, 4, 5, 6, 7, 8],
      },
      { op: 'poly', coeffs: [0, 0, 1] },
      { op: 'flatten' },
      { op: 'dense', inFeatures: 8, outFeatures: 2, weight: Array(16).fill(0.5), bias: [0, 1] },
    ],
  };
  const back = parseCnnModel(JSON.stringify(model));
  assert.deepEqual(back, model);
  assert.deepEqual(modelShapes(back), [[1, 4, 4], [2, 2, 2], [2, 2, 2], [8], [2]]);
  assert.throws(
    () => parseCnnModel({ ...model, layers: [{ ...model.layers[0], weight: [1] }] }),
    (e: unknown) => e instanceof NnError && /layers\[0\]\.weight/.test(e.message),
  );
  assert.throws(
    () =>
      parseCnnModel({
        ...model,
        layers: [model.layers[0], { op: 'dense', inFeatures: 9, outFeatures: 1, weight: Array(9).fill(0) }],
      }),
    (e: unknown) => e instanceof NnError && e.code === 'NN_SHAPE_MISMATCH',
  );
  assert.throws(
    () => parseCnnModel({ ...model, layers: [{ op: 'relu' }] }),
    (e: unknown) => e instanceof NnError && /relu/.test(e.message),
  );
});

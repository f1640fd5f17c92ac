import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeContext } from '../../he/context.ts';
import { generateKeys } from '../../he/keys.ts';
import { EncryptedCnn, inferLocally } from './encrypted-executor.ts';
import type { CnnLayer, CnnModel } from './ir.ts';
import { planCnn } from './planner.ts';
import { referenceForward } from './reference.ts';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}
const rand = (n: number, r: () => number, k = 1) => Array.from({ length: n }, () => r() * k);
const model = (inputShape: number[], layers: CnnLayer[]): CnnModel => ({
  format: 'blinddx-cnn',
  version: 1,
  name: 'layer',
  inputShape,
  layers,
});

/**
 * Tolerance: |encrypted − reference| ≤ 1e-3 · max(1, |reference|). The CKKS error at scale 2^32
 * (ckks-4096-d1) or 2^40 (ckks-8192-d2) is ~1e-6 for these sizes; 1e-3 leaves room without hiding
 * a packing bug (those are O(1)).
 */
const TOL = 1e-3;

const r = rng(11);
const cases: { name: string; m: CnnModel; depth: number; im2col?: boolean }[] = [
  {
    name: 'conv2d by im2col (2→3 channels, 3×3, stride 2, padding 1)',
    depth: 1,
    m: model(
      [2, 6, 6],
      [
        {
          op: 'conv2d',
          inChannels: 2,
          outChannels: 3,
          kernel: [3, 3],
          stride: [2, 2],
          padding: [1, 1],
          weight: rand(54, r),
          bias: rand(3, r),
        },
      ],
    ),
  },
  {
    name: 'conv2d as a diagonal matrix (deeper-layer path, 3→2 channels)',
    depth: 1,
    im2col: false,
    m: model(
      [3, 5, 5],
      [
        {
          op: 'conv2d',
          inChannels: 3,
          outChannels: 2,
          kernel: [3, 3],
          stride: [1, 1],
          padding: [0, 0],
          weight: rand(54, r),
          bias: rand(2, r),
        },
      ],
    ),
  },
  {
    name: 'conv2d + BatchNorm folded',
    depth: 1,
    m: model(
      [1, 6, 6],
      [
        {
          op: 'conv2d',
          inChannels: 1,
          outChannels: 2,
          kernel: [3, 3],
          stride: [1, 1],
          padding: [0, 0],
          weight: rand(18, r),
          bias: rand(2, r),
        },
        {
          op: 'batchnorm',
          gamma: [1.5, 0.5],
          beta: [0.1, -0.2],
          mean: [0.3, -0.1],
          variance: [2, 0.5],
          epsilon: 1e-5,
        },
      ],
    ),
  },
  {
    name: 'avgpool2d',
    depth: 1,
    m: model([2, 4, 4], [{ op: 'avgpool2d', kernel: [2, 2], stride: [2, 2], padding: [0, 0] }]),
  },
  { name: 'global average pool', depth: 1, m: model([3, 4, 4], [{ op: 'globalavgpool' }]) },
  {
    name: 'flatten + dense 48→10',
    depth: 1,
    m: model(
      [3, 4, 4],
      [
        { op: 'flatten' },
        { op: 'dense', inFeatures: 48, outFeatures: 10, weight: rand(480, r), bias: rand(10, r) },
      ],
    ),
  },
  { name: 'x²', depth: 1, m: model([16], [{ op: 'poly', coeffs: [0, 0, 1] }]) },
  {
    name: 'dense → x²',
    depth: 2,
    m: model(
      [10],
      [
        { op: 'dense', inFeatures: 10, outFeatures: 5, weight: rand(50, r), bias: rand(5, r) },
        { op: 'poly', coeffs: [0, 0, 1] },
      ],
    ),
  },
  {
    name: 'polynomial 0.1 + 0.5x + 0.25x²',
    depth: 2,
    m: model([16], [{ op: 'poly', coeffs: [0.1, 0.5, 0.25] }]),
  },
  {
    name: 'dense → x² → dense (folded activation)',
    depth: 3,
    m: model(
      [12],
      [
        { op: 'dense', inFeatures: 12, outFeatures: 6, weight: rand(72, r), bias: rand(6, r) },
        { op: 'poly', coeffs: [0.2, 1, 0.5] },
        { op: 'dense', inFeatures: 6, outFeatures: 3, weight: rand(18, r), bias: rand(3, r) },
      ],
    ),
  },
  {
    name: 'residual add of the input (x + (Wx)²)',
    depth: 2,
    m: model(
      [8],
      [
        { op: 'dense', inFeatures: 8, outFeatures: 8, weight: rand(64, r, 0.5), bias: rand(8, r) },
        { op: 'poly', coeffs: [0, 0, 1] },
        { op: 'add', from: -1 },
      ],
    ),
  },
  {
    name: 'residual add across dense → x² → dense',
    depth: 3,
    m: model(
      [8],
      [
        { op: 'dense', inFeatures: 8, outFeatures: 8, weight: rand(64, r, 0.5), bias: rand(8, r) },
        { op: 'poly', coeffs: [0, 0, 1] },
        { op: 'dense', inFeatures: 8, outFeatures: 8, weight: rand(64, r, 0.5), bias: rand(8, r) },
        { op: 'add', from: 1 },
      ],
    ),
  },
];

for (const preset of ['ckks-4096-d1', 'ckks-8192-d2', 'ckks-8192-d3']) {
  test(`every layer encrypted matches its float64 reference on ${preset}`, async () => {
    using ctx = await HeContext.create(preset);
    for (const c of cases) {
      if (c.depth > ctx.maxLevel) continue;
      // Layer checks run the unprotected program (the flood's σ = 2^−9 exceeds TOL; see
      // output-protection.test.ts for the protected one).
      const plan = planCnn(c.m, { preset, protect: false, ...(c.im2col === false ? { im2col: false } : {}) });
      using keys = generateKeys(ctx, { relin: plan.client.relin, galoisSteps: plan.client.galoisSteps });
      using cnn = new EncryptedCnn(ctx, keys, plan.server);
      const pixels = rand(
        c.m.inputShape.reduce((a, b) => a * b, 1),
        r,
        2,
      );
      const got = inferLocally(ctx, keys, plan.client, cnn, pixels);
      const want = referenceForward(c.m, Float64Array.from(pixels));
      want.forEach((w, i) => {
        assert.ok(
          Math.abs(got[i] - w) <= TOL * Math.max(1, Math.abs(w)),
          `${c.name} on ${preset}: output ${i} ${got[i]} vs ${w}`,
        );
      });
    }
  });
}

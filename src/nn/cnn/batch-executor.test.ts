import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeContext } from '../../he/context.ts';
import { generateKeys } from '../../he/keys.ts';
import { decryptBatch, encryptBatch, planBatch, runBatch } from './batch-executor.ts';
import type { CnnModel } from './ir.ts';
import { preprocessImage, referenceForward } from './reference.ts';

const wave = (n: number, k: number) => Array.from({ length: n }, (_, i) => Math.sin(i * k) * 0.5);

// Throughput mode on a small conv net: 7 images in the slots of one ciphertext set, no Galois keys.
test('throughput mode (one image per slot) matches the float64 reference on two presets', async () => {
  const model: CnnModel = {
    format: 'blinddx-cnn',
    version: 1,
    name: 'batch',
    inputShape: [1, 5, 5],
    preprocessing: { scale: 1 / 255, mean: [0.5], std: [0.25] },
    layers: [
      {
        op: 'conv2d',
        inChannels: 1,
        outChannels: 2,
        kernel: [3, 3],
        stride: [2, 2],
        padding: [0, 0],
        weight: wave(18, 1.1),
        bias: [0.1, -0.2],
      },
      { op: 'poly', coeffs: [0.1, 0.3, 0.5] },
      { op: 'flatten' },
      { op: 'dense', inFeatures: 8, outFeatures: 3, weight: wave(24, 0.7), bias: [0, 0.5, -0.5] },
    ],
  };
  // Depth 3 on ckks-8192-d3; its first two layers (conv → x², depth 2) on ckks-8192-d2.
  const shallow: CnnModel = { ...model, layers: [model.layers[0], { op: 'poly', coeffs: [0, 0, 1] }] };
  const images = Array.from({ length: 7 }, (_, b) =>
    Array.from({ length: 25 }, (_, i) => (i * 37 + b * 11) % 256),
  );
  for (const [preset, m] of [
    ['ckks-8192-d3', model],
    ['ckks-8192-d2', shallow],
  ] as const) {
    const plan = planBatch(m);
    assert.equal(plan.depth, preset === 'ckks-8192-d3' ? 3 : 2);
    using ctx = await HeContext.create(preset);
    using keys = generateKeys(ctx, { relin: true });
    const cts = encryptBatch(ctx, keys, plan, images);
    const outs = runBatch(ctx, keys, plan, cts);
    const logits = decryptBatch(keys, outs, images.length);
    for (const c of [...cts, ...outs]) c[Symbol.dispose]();
    images.forEach((px, b) => {
      const want = referenceForward(m, preprocessImage(m, px));
      want.forEach((w, k) => {
        assert.ok(
          Math.abs(logits[b][k] - w) < 1e-3 * Math.max(1, Math.abs(w)),
          `${preset} image ${b} logit ${k}`,
        );
      });
    });
  }
});

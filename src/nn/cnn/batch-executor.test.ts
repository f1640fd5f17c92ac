import assert from 'node:assert/strict';
import { test } from 'node:test';
import { wave } from '../../../test/fixtures/cnn-models.ts';
import { HeContext } from '../../he/context.ts';
import { decrypt, saveCiphertext } from '../../he/crypt.ts';
import { decodeSlots } from '../../he/encoder.ts';
import { generateKeys } from '../../he/keys.ts';
import {
  _runBatchStages,
  createBatchMasks,
  decryptBatch,
  encryptBatch,
  planBatch,
  runBatch,
} from './batch-executor.ts';
import { measuredLambda } from './batch-protection.ts';
import type { CnnModel } from './ir.ts';
import { preprocessImage, referenceForward } from './reference.ts';

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
// Its first two layers (conv → x²): a network that ends in a square.
const shallow: CnnModel = { ...model, layers: [model.layers[0], { op: 'poly', coeffs: [0, 0, 1] }] };
const images = Array.from({ length: 7 }, (_, b) =>
  Array.from({ length: 25 }, (_, i) => (i * 37 + b * 11) % 256),
);
const want = (m: CnnModel) => images.map((px) => referenceForward(m, preprocessImage(m, px)));

/**
 * Tolerances, in logits. Protected: the flood has σ = 2^−9 per slot (≈ 0.002; max of 21 outputs
 * ≈ 0.007) and the program error at 32-bit scales is ~1e-6, so 0.03 leaves room without hiding a
 * wrong output. Unused slots: flood only, max over 4,096 slots ≈ 4.5σ ≈ 0.009; bound 0.05. The
 * unprotected control's unused slots hold the network at a zero input (0.57 here), over the bound.
 */
const LOGIT_TOL = 0.03;
const UNUSED_MAX = 0.05;

const unusedMax = (all: Float64Array, batch: number) => {
  let m = 0;
  for (let j = batch; j < all.length; j++) m = Math.max(m, Math.abs(all[j]));
  return m;
};

// Throughput mode on a small conv net: 7 images in the slots of one ciphertext set, no Galois keys.
test('unprotected throughput mode (one image per slot) matches the float64 reference on two presets', async () => {
  for (const [preset, m] of [
    ['ckks-8192-d3', model],
    ['ckks-8192-d2', shallow],
  ] as const) {
    const plan = planBatch(m, { protect: false });
    assert.equal(plan.protection, undefined);
    assert.equal(plan.depth, preset === 'ckks-8192-d3' ? 3 : 2);
    using ctx = await HeContext.create(preset);
    using keys = generateKeys(ctx, { relin: true });
    const cts = encryptBatch(ctx, keys, plan, images);
    const outs = runBatch(ctx, keys, plan, cts);
    const logits = decryptBatch(keys, outs, images.length, plan);
    for (const c of [...cts, ...outs]) c[Symbol.dispose]();
    want(m).forEach((w, b) => {
      w.forEach((v, k) => {
        assert.ok(
          Math.abs(logits[b][k] - v) < 1e-3 * Math.max(1, Math.abs(v)),
          `${preset} image ${b} logit ${k}`,
        );
      });
    });
  }
});

test('protected throughput responses: logits only, re-randomized, flooded, one shape; control leaks', async () => {
  const plan = planBatch(model);
  const p = plan.protection;
  assert.ok(p, 'protected by default');
  // The batch mask rides on the last dense layer: no extra level; the chooser's protected chain.
  assert.deepEqual(
    plan.stages.map((s) => s.kind),
    ['affine', 'square', 'affine'],
  );
  assert.deepEqual(plan.params.literal.coeffModulusBits, [60, 32, 32, 32, 60]);
  assert.equal(p.level, 0);
  assert.equal(p.scaleBits, 47);
  using ctx = await HeContext.create(plan.params.literal);
  using keys = generateKeys(ctx, { relin: true });
  const batch = images.length;
  const cts = encryptBatch(ctx, keys, plan, images);
  const ref = want(model);
  try {
    // Two responses to the same input ciphertexts: different bytes, the same logits.
    const a = runBatch(ctx, keys, plan, cts, { batch });
    const b = runBatch(ctx, keys, plan, cts, { batch });
    try {
      const shapes = new Set(
        [...a, ...b].map((c) => `${c.level}/${c.scale}/${c.size}/${saveCiphertext(c).length}`),
      );
      assert.equal(shapes.size, 1, `one response shape, got ${[...shapes].join(' | ')}`);
      assert.equal(a[0].level, p.level);
      assert.ok(Math.abs(a[0].scale / 2 ** p.scaleBits - 1) < 1e-9);
      a.forEach((c, k) => {
        assert.notDeepEqual(saveCiphertext(c), saveCiphertext(b[k]), `output ${k}: re-randomized`);
      });
      const la = decryptBatch(keys, a, batch, plan);
      const lb = decryptBatch(keys, b, batch, plan);
      ref.forEach((w, i) => {
        w.forEach((v, k) => {
          assert.ok(
            Math.abs(la[i][k] - v) <= LOGIT_TOL,
            `image ${i} logit ${k}: ${la[i][k]} vs float64 ${v}`,
          );
          assert.ok(Math.abs(la[i][k] - lb[i][k]) <= LOGIT_TOL, `image ${i} logit ${k}: two responses`);
        });
      });
      // Every slot decrypted: slots past the batch hold only flood and rounding noise.
      for (const c of a) {
        using pt = decrypt(keys, c);
        const m = unusedMax(decodeSlots(pt, ctx.params.slots), batch);
        assert.ok(m <= UNUSED_MAX, `protected unused slots up to ${m}`);
        assert.ok(m > 0, 'flooded: not exactly zero');
      }
      // The client refuses a response whose shape differs from the announced one.
      assert.throws(
        () => decryptBatch(keys, a, batch, { ...plan, protection: { ...p, scaleBits: p.scaleBits + 1 } }),
        /the plan announces level 0, 2\^48/,
      );
    } finally {
      for (const c of [...a, ...b]) c[Symbol.dispose]();
    }

    // Before the flood: unused slots are rounding noise only; measure λ (largest slot error, all slots).
    const pre = _runBatchStages(ctx, keys, plan, cts, batch);
    let eps = 0;
    let unused = 0;
    pre.forEach((c, k) => {
      using pt = decrypt(keys, c);
      const all = decodeSlots(pt, ctx.params.slots);
      all.forEach((v, j) => {
        eps = Math.max(eps, Math.abs(v - (j < batch ? ref[j][k] : 0)));
      });
      unused = Math.max(unused, unusedMax(all, batch));
      c[Symbol.dispose]();
    });
    assert.ok(unused < 1e-5, `pre-flood unused slots up to ${unused}`);
    assert.ok(eps < 1e-4, `pre-flood slot error ${eps}`);
    const lambda = measuredLambda(p, eps);
    assert.ok(lambda > 0, `λ = ${lambda}`);

    // Precomputed masks (off the request path): used once, consumed; a used mask is refused.
    const masks = createBatchMasks(ctx, keys, plan);
    const c = runBatch(ctx, keys, plan, cts, { batch, masks });
    try {
      assert.ok(
        masks.every((m) => m.disposed),
        'masks consumed',
      );
      const lc = decryptBatch(keys, c, batch, plan);
      ref.forEach((w, i) => {
        w.forEach((v, k) => {
          assert.ok(Math.abs(lc[i][k] - v) <= LOGIT_TOL, `precomputed masks: image ${i} logit ${k}`);
        });
      });
      assert.throws(() => runBatch(ctx, keys, plan, cts, { batch, masks }), {
        code: 'NN_INVALID_ARGUMENT',
        message: /single-use/,
      });
    } finally {
      for (const x of c) x[Symbol.dispose]();
    }
    assert.throws(() => runBatch(ctx, keys, plan, cts, { batch: 0 }), { code: 'NN_INVALID_ARGUMENT' });
  } finally {
    for (const c of cts) c[Symbol.dispose]();
  }

  // Control: unprotected, the unused slots carry the network at a zero input (weight-dependent),
  // and the same check fails.
  const open = planBatch(model, { protect: false });
  using octx = await HeContext.create(open.params.literal);
  using okeys = generateKeys(octx, { relin: true });
  const octs = encryptBatch(octx, okeys, open, images);
  const oouts = runBatch(octx, okeys, open, octs, { batch });
  let m = 0;
  for (const c of oouts) {
    using pt = decrypt(okeys, c);
    m = Math.max(m, unusedMax(decodeSlots(pt, octx.params.slots), batch));
  }
  for (const c of [...octs, ...oouts]) c[Symbol.dispose]();
  assert.ok(m > UNUSED_MAX, `unprotected unused slots up to ${m} (expected the network at zero input)`);
});

// A network ending in a square needs one extract level; one ending in a·x² + b (a 'scale' stage)
// carries the mask in that stage's products, like a dense layer.
const scaled: CnnModel = { ...model, layers: [model.layers[0], model.layers[1]] };

test('protected throughput plans ending in a square or a scaled square: unused slots ≈ 0', async () => {
  for (const [m, kinds] of [
    [shallow, ['affine', 'square', 'extract']],
    [scaled, ['affine', 'square', 'scale']],
  ] as const) {
    const plan = planBatch(m);
    const p = plan.protection;
    assert.ok(p);
    assert.deepEqual(
      plan.stages.map((s) => s.kind),
      kinds,
    );
    using ctx = await HeContext.create(plan.params.literal);
    using keys = generateKeys(ctx, { relin: true });
    const batch = 5;
    const cts = encryptBatch(ctx, keys, plan, images.slice(0, batch));
    const outs = runBatch(ctx, keys, plan, cts, { batch });
    try {
      const logits = decryptBatch(keys, outs, batch, plan);
      want(m)
        .slice(0, batch)
        .forEach((w, i) => {
          w.forEach((v, k) => {
            assert.ok(
              Math.abs(logits[i][k] - v) <= LOGIT_TOL,
              `image ${i} output ${k}: ${logits[i][k]} vs ${v}`,
            );
          });
        });
      for (const c of outs) {
        assert.equal(c.level, p.level);
        using pt = decrypt(keys, c);
        const m = unusedMax(decodeSlots(pt, ctx.params.slots), batch);
        assert.ok(m <= UNUSED_MAX && m > 0, `unused slots up to ${m}`);
      }
    } finally {
      for (const c of [...cts, ...outs]) c[Symbol.dispose]();
    }
  }
});

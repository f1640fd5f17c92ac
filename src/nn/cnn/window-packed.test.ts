import assert from 'node:assert/strict';
import { test } from 'node:test';
import { wave } from '../../../test/fixtures/cnn-models.ts';
import { HeContext } from '../../he/context.ts';
import { decrypt } from '../../he/crypt.ts';
import { decodeSlots } from '../../he/encoder.ts';
import { generateKeys } from '../../he/keys.ts';
import type { CnnModel } from './ir.ts';
import { referenceForward } from './reference.ts';
import {
  im2colPatch,
  packWindowInputs,
  planWindowPacked,
  preprocessPatch,
  unpackWindowInputs,
  windowPackedLayout,
  windowPackedPlain,
} from './window-packed.ts';
import { decryptWindowOutputs, encryptWindowInputs, WindowPackedServer } from './window-packed-he.ts';

// Overlapping 3×3 windows, stride 2, padding 1 on 2×5×5 patches: 9 windows, 18 kernel elements.
const model: CnnModel = {
  format: 'blinddx-cnn',
  version: 1,
  name: 'window-packed',
  inputShape: [2, 5, 5],
  preprocessing: { scale: 1 / 255, mean: [0.5, 0.4], std: [0.25, 0.3] },
  layers: [
    {
      op: 'conv2d',
      inChannels: 2,
      outChannels: 2,
      kernel: [3, 3],
      stride: [2, 2],
      padding: [1, 1],
      weight: wave(36, 1.1),
      bias: [0.1, -0.2],
    },
    { op: 'poly', coeffs: [0.1, 0.3, 0.5] },
    { op: 'flatten' },
    { op: 'dense', inFeatures: 18, outFeatures: 6, weight: wave(108, 0.7), bias: [0, 0.5, -0.5, 1, 0, 0.2] },
    { op: 'dense', inFeatures: 6, outFeatures: 3, weight: wave(18, 0.3), bias: [0.1, 0, -0.1] },
  ],
};
const patches = Array.from({ length: 4 }, (_, p) =>
  Array.from({ length: 50 }, (_, i) => (i * 37 + p * 91) % 256),
);

test('window-packed plan: layout, folding twin = reference, pack/unpack round trip, refusals', () => {
  const plan = planWindowPacked(model, { patches: 4, protect: false });
  assert.deepEqual([plan.windows, plan.elements, plan.block, plan.classes], [9, 18, 64, 3]);
  assert.ok(plan.copies > 1, 'small patches share ciphertexts');
  assert.equal(plan.inputs, Math.ceil(18 / plan.copies));
  assert.equal(plan.galoisSteps.length, Math.log2(plan.copies));
  // The weight-free layout carries no weights.
  const layout = windowPackedLayout(plan);
  assert.ok(!('head' in layout) && !('convWeight' in layout) && !('model' in layout));
  // Round trip: pack then unpack = im2col of each preprocessed patch.
  const vecs = packWindowInputs(layout, patches.slice(0, 3));
  const back = unpackWindowInputs(layout, vecs, 3);
  back.forEach((rows, p) => {
    const want = im2colPatch(layout, preprocessPatch(layout, patches[p]));
    assert.deepEqual(
      rows.map((r) => Array.from(r)),
      want.map((r) => Array.from(r)),
    );
  });
  // Padding: window 0 under kernel element (0,0,0) is a padded zero; element (0,1,1) is pixel (0,0).
  const x = preprocessPatch(layout, patches[0]);
  const rows = im2colPatch(layout, x);
  assert.equal(rows[0][0], 0);
  assert.equal(rows[4][0], x[0]);
  // Twin (folded activation and head) = the reference forward pass.
  const twin = windowPackedPlain(plan, patches);
  twin.logits.forEach((l, p) => {
    const ref = referenceForward(model, preprocessPatch(layout, patches[p]));
    for (let k = 0; k < 3; k++) assert.ok(Math.abs(l[k] - ref[k]) < 1e-9, `patch ${p} class ${k}`);
  });
  // Refusals, with the supported shape in the message.
  const bad = (m: CnnModel, re: RegExp) =>
    assert.throws(() => planWindowPacked(m, { patches: 2 }), { code: 'NN_INVALID_ARGUMENT', message: re });
  bad(
    {
      ...model,
      layers: [{ op: 'flatten' }, { op: 'dense', inFeatures: 50, outFeatures: 3, weight: wave(150, 1) }],
    },
    /layer 0 is flatten, not conv2d.*supported/,
  );
  bad(
    { ...model, layers: [model.layers[0], { op: 'poly', coeffs: [0, 0, 0, 1] }, ...model.layers.slice(2)] },
    /degree-3/,
  );
  bad(
    { ...model, layers: [model.layers[0], model.layers[1], model.layers[1], ...model.layers.slice(2)] },
    /layer 2 \(poly\) is not affine/,
  );
  bad(
    { ...model, layers: [model.layers[0], { op: 'poly', coeffs: [0, 1] }, ...model.layers.slice(2)] },
    /degree-1/,
  );
  // Trailing zero coefficients do not raise the degree.
  const padded = planWindowPacked(
    {
      ...model,
      layers: [model.layers[0], { op: 'poly', coeffs: [0.1, 0.3, 0.5, 0] }, ...model.layers.slice(2)],
    },
    { patches: 4, protect: false },
  );
  assert.deepEqual(Array.from(padded.headBias), Array.from(plan.headBias));
  assert.throws(() => planWindowPacked(model, { patches: 0 }), { code: 'NN_INVALID_ARGUMENT' });
  assert.throws(() => packWindowInputs(layout, patches.concat(patches)), { code: 'NN_INVALID_ARGUMENT' });
});

test('window-packed under encryption matches the float64 twin on two presets (raw N=8192, protected N=16384)', async () => {
  for (const protect of [false, true]) {
    const plan = planWindowPacked(model, { patches: 4, protect });
    assert.equal(plan.chain.literal.polyModulusDegree, protect ? 16384 : 8192);
    const want = windowPackedPlain(plan, patches.slice(0, 3));
    using ctx = await HeContext.create(plan.chain.literal);
    using keys = generateKeys(ctx, { relin: true, galoisSteps: plan.galoisSteps });
    using server = new WindowPackedServer(ctx, keys, plan);
    const cts = encryptWindowInputs(ctx, keys, windowPackedLayout(plan), patches.slice(0, 3));
    // Before the masks: per-window partial products = the twin's (used slots), zero elsewhere.
    const raw = server._compute(cts);
    {
      using pt = decrypt(keys, raw[0]);
      const v = decodeSlots(pt, plan.block * plan.copies);
      for (let p = 0; p < 3; p++)
        for (let w = 1; w < plan.windows; w++)
          assert.ok(
            Math.abs(v[p * plan.windows + w] - want.partials[p][0][w]) < 1e-4,
            `raw partial ${p},${w}`,
          );
      assert.ok(Math.abs(v[plan.block - 1]) < 1e-4, 'unused slot');
    }
    const outs = server._finish(raw);
    const got = decryptWindowOutputs(keys, windowPackedLayout(plan), outs, 3);
    // Tolerance: raw ≈ 2^−20 precision; protected adds a flood of σ = 2^−11 per logit (6σ here).
    const tol = protect ? 3e-3 : 1e-4;
    got.forEach((l, p) => {
      for (let k = 0; k < 3; k++)
        assert.ok(
          Math.abs(l[k] - want.logits[p][k]) < tol,
          `${protect} patch ${p} class ${k}: ${l[k]} vs ${want.logits[p][k]}`,
        );
    });
    // What the client sees per window: the partial products (raw) or masked values (protected).
    {
      using pt = decrypt(keys, outs[0]);
      const v = decodeSlots(pt, plan.block * plan.copies);
      const dev = Math.max(
        ...Array.from({ length: 8 }, (_, w) => Math.abs(v[w + 1] - want.partials[0][0][w + 1])),
      );
      if (protect) assert.ok(dev > 2 ** 20, `masked windows deviate by ${dev}`);
      else assert.ok(dev < 1e-4);
    }
    // A response of another shape (here: the unrescaled, unmasked partials' input) is refused.
    assert.throws(() => decryptWindowOutputs(keys, windowPackedLayout(plan), cts.slice(0, plan.outputs), 3), {
      code: 'NN_INVALID_ARGUMENT',
      message: /plan says level 1/,
    });
    // Masks are single-use.
    const masks = server.createMasks();
    const again = server.run(cts, masks);
    for (const c of again) c[Symbol.dispose]();
    assert.throws(() => server.run(cts, masks), { code: 'NN_INVALID_ARGUMENT', message: /single-use/ });
    for (const c of [...cts, ...outs]) c[Symbol.dispose]();
  }
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { HeContext } from '../../he/context.ts';
import { decrypt, saveCiphertext } from '../../he/crypt.ts';
import { decodeSlots } from '../../he/encoder.ts';
import { generateKeys } from '../../he/keys.ts';
import { loadIdxDataset } from '../data/idx.node.ts';
import { argmax } from '../logits.ts';
import { decryptOutput, encryptInput } from './client.ts';
import { EncryptedCnn } from './encrypted-executor.ts';
import { parseCnnModel } from './ir.ts';
import { planCnn } from './planner.ts';
import { preprocessImage, referenceForward } from './reference.ts';

// The shipped MNIST net (TenSEAL tutorial architecture), protected (the default) vs unprotected.
const model = parseCnnModel(
  JSON.parse(readFileSync(new URL('../../../models/mnist-tenseal/model.json', import.meta.url), 'utf8')),
);
const mnist = loadIdxDataset('mnist', 'test');
const image = (i: number) => mnist.images.subarray(i * 784, (i + 1) * 784);

/**
 * Tolerances, in logits: the flood has σ = 2^−9 per slot (≈ 0.002, max of 10 outputs ≈ 0.007);
 * the computation error at 53-bit scales is ~1e-9. 0.03 leaves room without hiding a wrong output
 * (those are O(1)). Non-output slots: flood only, max over 8,192 slots ≈ 4.5σ ≈ 0.009; bound 0.05.
 * Unprotected control: the non-output slots carry partial sums of the weights, O(1) and larger.
 */
const LOGIT_TOL = 0.03;
const NON_OUTPUT_MAX = 0.05;

function nonOutputMax(all: Float64Array, outputs: readonly number[]): number {
  const pos = new Set(outputs);
  let m = 0;
  all.forEach((v, j) => {
    if (!pos.has(j)) m = Math.max(m, Math.abs(v));
  });
  return m;
}

test('protected CNN responses: extracted, re-randomized, flooded, constant shape; control leaks', async () => {
  const plan = planCnn(model);
  const p = plan.client.protection;
  assert.ok(p, 'the default plan is protected');
  assert.deepEqual(plan.server.protection, p);
  assert.equal(plan.server.stages.at(-1)?.kind, 'extract');
  assert.equal(plan.stats.schedule.at(-1)?.level, p.level);
  assert.equal(plan.stats.schedule.at(-1)?.scaleBits, p.scaleBits);

  const ctx = await HeContext.create(plan.client.params);
  using keys = generateKeys(ctx, { relin: plan.client.relin, galoisSteps: plan.client.galoisSteps });
  using cnn = new EncryptedCnn(ctx, keys, plan.server);
  const outputs = plan.client.output.positions;

  // (2) the same input ciphertext twice: different bytes, same logits.
  const px = image(0);
  const ref = referenceForward(model, preprocessImage(model, px));
  using ct = encryptInput(ctx, keys, plan.client, px);
  using a = cnn.infer(ct);
  using b = cnn.infer(ct);
  const bytesA = saveCiphertext(a);
  const bytesB = saveCiphertext(b);
  assert.notDeepEqual(bytesA, bytesB, 're-randomized: two responses to one ciphertext differ');
  const la = decryptOutput(keys, plan.client, a);
  const lb = decryptOutput(keys, plan.client, b);
  la.forEach((v, k) => {
    assert.ok(Math.abs(v - lb[k]) <= LOGIT_TOL, `logit ${k}: ${v} vs ${lb[k]}`);
    assert.ok(Math.abs(v - ref[k]) <= LOGIT_TOL, `logit ${k}: ${v} vs float64 ${ref[k]}`);
  });

  // (2b) a mask made ahead of time (off the request path): the same logits, fresh bytes; consumed,
  // so a second use is refused.
  {
    const mask = cnn.createMask();
    using c = cnn.infer(ct, { mask });
    assert.ok(mask.disposed, 'the mask is consumed');
    assert.notDeepEqual(saveCiphertext(c), bytesA);
    decryptOutput(keys, plan.client, c).forEach((v, k) => {
      assert.ok(Math.abs(v - ref[k]) <= LOGIT_TOL, `precomputed mask: logit ${k}: ${v} vs float64 ${ref[k]}`);
    });
    assert.throws(() => cnn.infer(ct, { mask }), { code: 'NN_INVALID_ARGUMENT', message: /single-use/ });
  }

  // (1) all slots decrypted: non-output slots hold only noise.
  {
    using pt = decrypt(keys, a);
    const all = decodeSlots(pt, ctx.params.slots);
    const m = nonOutputMax(all, outputs);
    assert.ok(m <= NON_OUTPUT_MAX, `protected non-output slots up to ${m}`);
    assert.ok(m > 0, 'flooded: not exactly zero');
  }

  // (3) accuracy vs float64 on a few images, (4) every response the same level, scale and size.
  const shapes = new Set<string>();
  for (const i of [1, 2, 3]) {
    const x = image(i);
    const r = referenceForward(model, preprocessImage(model, x));
    using c = encryptInput(ctx, keys, plan.client, x);
    using out = cnn.infer(c);
    shapes.add(`${out.level}/${out.scale}/${out.size}/${saveCiphertext(out).length}`);
    const logits = decryptOutput(keys, plan.client, out);
    for (const [k, v] of logits.entries())
      assert.ok(Math.abs(v - r[k]) <= LOGIT_TOL, `image ${i} logit ${k}: ${v} vs ${r[k]}`);
    assert.equal(argmax(logits), argmax(r), `image ${i}: argmax`);
  }
  shapes.add(`${a.level}/${a.scale}/${a.size}/${bytesA.length}`);
  assert.equal(shapes.size, 1, `one response shape, got ${[...shapes].join(' | ')}`);
  assert.equal(a.level, p.level);
  assert.equal(a.scale, 2 ** p.scaleBits);
  // The client refuses a response whose shape differs from the one the plan announces.
  assert.throws(
    () => decryptOutput(keys, { ...plan.client, protection: { ...p, scaleBits: p.scaleBits + 1 } }, a),
    /plan announces level 0, 2\^48/,
  );

  // Control: the unprotected plan's non-output slots carry large weight-dependent values, and the
  // same check fails there.
  const open = planCnn(model, { protect: false });
  assert.equal(open.client.protection, undefined);
  const octx = await HeContext.create(open.client.params);
  using okeys = generateKeys(octx, { relin: open.client.relin, galoisSteps: open.client.galoisSteps });
  using ocnn = new EncryptedCnn(octx, okeys, open.server);
  using oct = encryptInput(octx, okeys, open.client, px);
  using oout = ocnn.infer(oct);
  using opt = decrypt(okeys, oout);
  const m = nonOutputMax(decodeSlots(opt, octx.params.slots), open.client.output.positions);
  assert.ok(
    m > 20 * NON_OUTPUT_MAX,
    `unprotected non-output slots up to ${m} (expected weight-dependent values)`,
  );
});

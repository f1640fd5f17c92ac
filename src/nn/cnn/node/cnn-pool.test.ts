import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tinyConvSquare } from '../../../../test/fixtures/cnn-models.ts';
import { HeContext } from '../../../he/context.ts';
import { loadCiphertext } from '../../../he/hardened-load.ts';
import { generateKeys } from '../../../he/keys.ts';
import { decryptOutput, encryptInputSeeded } from '../client.ts';
import { planCnn } from '../planner.ts';
import { preprocessImage, referenceForward } from '../reference.ts';
import { CnnPool } from './cnn-pool.ts';

test('two pool workers run encrypted CNN inferences in parallel, results match float64', async () => {
  const model = tinyConvSquare('pool');
  const plan = planCnn(model);
  using ctx = await HeContext.create(plan.client.params);
  using keys = generateKeys(ctx, { relin: plan.client.relin, galoisSteps: plan.client.galoisSteps });
  await using pool = await CnnPool.create(plan.server, plan.client, keys.exportPublic(), 2);
  const images = Array.from({ length: 4 }, (_, b) =>
    Array.from({ length: 36 }, (_, i) => ((i * 7 + b * 13) % 17) / 8),
  );
  const outs = await Promise.all(
    images.map((px) => pool.infer(encryptInputSeeded(ctx, keys, plan.client, px))),
  );
  const layout = {
    kind: 'slots',
    length: plan.client.input.period,
    period: plan.client.input.period,
  } as const;
  outs.forEach((bytes, b) => {
    using ct = loadCiphertext(ctx, bytes, { layout, level: 0 });
    const got = decryptOutput(keys, plan.client, ct);
    const want = referenceForward(model, preprocessImage(model, images[b]));
    want.forEach((w, i) => {
      // Protected plan (the default): the response is flooded with σ = 2^−9 per slot.
      assert.ok(Math.abs(got[i] - w) < 2e-2 * Math.max(1, Math.abs(w)), `image ${b} output ${i}`);
    });
  });
});

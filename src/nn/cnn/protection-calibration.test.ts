import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tinyColourCnn } from '../../../test/fixtures/cnn-models.ts';
import { HeContext } from '../../he/context.ts';
import { generateKeys } from '../../he/keys.ts';
import { LAMBDA_MARGIN_BITS, measuredLambda, predictedMaxSlotError } from './batch-protection.ts';
import { planCnn } from './planner.ts';
import { _measurePreFloodError } from './protection-calibration.ts';
import { preprocessImage, referenceForward } from './reference.ts';

// The planner's λ must never overstate what the flood hides: predicted λ ≤ λ measured from the
// largest pre-flood slot error over all N/2 slots. The tiny net plans at N = 16384 with 60-bit
// scales, where the old prediction (computation error 2^(21.8 − s) only) said λ = 22 and the
// rounding floor of the output scale gives ≈ 17.
test('predicted λ ≤ measured λ on a real SEAL run of the tiny net, flood left out', async () => {
  const model = tinyColourCnn();
  const plan = planCnn(model);
  const p = plan.client.protection;
  assert.ok(p, 'protected plan');
  assert.equal(plan.client.params.scaleBits, 60, 'the regime the old prediction got wrong');
  using ctx = await HeContext.create(plan.client.params);
  using keys = generateKeys(ctx, { relin: plan.client.relin, galoisSteps: plan.client.galoisSteps });
  let worst = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 2; i++) {
    const px = Array.from({ length: 50 }, (_, j) => (j * 37 + i * 101) % 256);
    const logits = referenceForward(model, preprocessImage(model, px));
    const r = _measurePreFloodError(ctx, keys, plan, px, logits);
    // Sanity: the error is CKKS noise (tiny), not a wrong output; every other slot is near 0.
    assert.ok(r.maxSlotError > 0 && r.maxSlotError < 1e-6, `ε = ${r.maxSlotError}`);
    assert.ok(r.otherSlotMax < 1e-6, `other slots up to ${r.otherSlotMax}`);
    worst = Math.min(worst, r.lambda);
  }
  assert.ok(p.lambda <= worst, `predicted λ ${p.lambda} > measured ${worst.toFixed(2)}`);
  // The margin is real but not absurd: the prediction is within ~3 bits of the measurement.
  assert.ok(worst - p.lambda < 3 + LAMBDA_MARGIN_BITS, `predicted ${p.lambda}, measured ${worst.toFixed(2)}`);
});

/**
 * The calibration table (README "Calibration of λ"): largest pre-flood slot error measured on the
 * committed models' protected plans, 2026-11-21 (`protection-calibration.node.ts --images 3`,
 * `batch-protection-bench.node.ts --mode protected`). Every prediction must cover it.
 */
const CALIBRATION = [
  { what: 'mnist-cnn latency', s: 53, eps: 2.09e-10 },
  { what: 'mnist-tenseal latency', s: 53, eps: 3.96e-10 },
  { what: 'breast-cnn latency', s: 53, eps: 1.7e-10 },
  { what: 'mnist-2conv latency', s: 53, eps: 3.95e-10 },
  { what: 'cifar10-x2 latency', s: 53, eps: 1.84e-10 },
  { what: 'mnist-tenseal throughput', s: 60, eps: 1.67e-10 },
  { what: 'mnist-cnn throughput', s: 60, eps: 2.02e-10 },
  { what: 'mnist-2conv throughput', s: 60, eps: 1.82e-10 },
];

test('the prediction covers every measured ε of the calibration table, λ rounds down', () => {
  for (const c of CALIBRATION) {
    const pred = predictedMaxSlotError(c.s, 47, 16384);
    assert.ok(pred >= c.eps, `${c.what}: predicted ε ${pred.toExponential(2)} < measured ${c.eps}`);
    const p = { level: 0, scaleBits: 47, floodSigmaBits: 31, lambda: 0 };
    assert.ok(Math.floor(measuredLambda(p, pred)) <= measuredLambda(p, c.eps));
  }
});

// Calibrates the planner's λ prediction (`outputProtection` in batch-protection.ts): for each model,
// the protected latency plan (the served path) runs on a few test images with the flood left out
// (`_measurePreFloodError`: decrypts with the secret key, so no server path), and the largest
// pre-flood slot error ε over all N/2 slots (output slots vs float64, the others vs 0) gives the
// measured λ. Prints one row per model with the plan's predicted λ next to it. Heavy (seconds per
// image, cifar10-x2 ≈ 3 s): run by hand with `nice -n 5`, never from `npm test`.
//
//   node src/nn/cnn/protection-calibration.node.ts [--models mnist-cnn,mnist-tenseal,...]
//     [--images 3] [--out x.json]
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { HeContext } from '../../he/context.ts';
import { Evaluator } from '../../he/evaluator.ts';
import { generateKeys } from '../../he/keys.ts';
import { HeBackend } from './he-backend.ts';
import { parseCnnModel } from './ir.ts';
import { planCnn } from './planner.ts';
import { _measurePreFloodError } from './protection-calibration.ts';
import { preprocessImage, referenceForward } from './reference.ts';
import { modelImage } from './results-eval.ts';
import { evalSet, registeredSet } from './results-registry.node.ts';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'mnist-cnn,mnist-tenseal,breast-cnn,mnist-2conv,cifar10-x2' },
    images: { type: 'string', default: '3' },
    out: { type: 'string' },
  },
});
const images = Number(values.images);
const log = (s: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const rows = [];
for (const name of values.models!.split(',')) {
  const model = parseCnnModel(JSON.parse(readFileSync(join('models', name, 'model.json'), 'utf8')));
  const set = registeredSet(name);
  if (set === undefined) throw new Error(`model "${name}" has no registered evaluation set`);
  const ds = evalSet(set).load();
  const plan = planCnn(model);
  const p = plan.client.protection!;
  using ctx = await HeContext.create(plan.client.params);
  using keys = generateKeys(ctx, { relin: plan.client.relin, galoisSteps: plan.client.galoisSteps });
  using backend = new HeBackend(ctx, new Evaluator(ctx, keys));
  let eps = 0;
  let out = 0;
  let other = 0;
  const perImage: number[] = [];
  for (let i = 0; i < images; i++) {
    const px = modelImage(model, ds, i);
    const ref = referenceForward(model, preprocessImage(model, px));
    const t = performance.now();
    const r = _measurePreFloodError(ctx, keys, plan, px, ref, backend);
    eps = Math.max(eps, r.maxSlotError);
    out = Math.max(out, r.outputSlotError);
    other = Math.max(other, r.otherSlotMax);
    perImage.push(Number(r.maxSlotError.toExponential(2)));
    log(`${name} image ${i}: ε ${r.maxSlotError.toExponential(2)} (${Math.round(performance.now() - t)} ms)`);
  }
  const row = {
    model: name,
    params: `N=${plan.client.params.polyModulusDegree} [${plan.client.params.coeffModulusBits}]`,
    depth: plan.stats.depth,
    protection: p,
    images,
    maxSlotError: Number(eps.toExponential(2)),
    log2MaxSlotError: Number(Math.log2(eps).toFixed(2)),
    outputSlotError: Number(out.toExponential(2)),
    otherSlotMax: Number(other.toExponential(2)),
    perImage,
    lambdaMeasured: Number((p.floodSigmaBits + 0.5 - p.scaleBits - Math.log2(eps)).toFixed(2)),
    lambdaPredicted: p.lambda,
  };
  log(JSON.stringify(row));
  rows.push(row);
}
const result = { date: new Date().toISOString(), rows };
if (values.out) writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);

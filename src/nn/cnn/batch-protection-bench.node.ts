// Throughput mode on MNIST, protected vs unprotected: images/s, bytes down, accuracy vs float64 and,
// for the protected plan, the largest pre-flood slot error (all N/2 slots of all K outputs) and the
// λ it gives. Heavy (minutes, GBs): run by hand with `nice -n 5`, never from `npm test`.
//
//   node src/nn/cnn/batch-protection-bench.node.ts [--n 4096] [--mode both|protected|unprotected]
//     [--model models/mnist-tenseal/model.json] [--out x.json]
//   node src/nn/cnn/batch-protection-bench.node.ts --mode latency --n 20   (the latency plan: mask on
//     the request path vs made ahead of time with EncryptedCnn.createMask)
//
// The protected server time is the plan's stages (`_runBatchStages`, which already zero the unused
// slots and land on the output scale) plus the re-randomize + flood step (`protectResponse` with
// fresh masks), timed separately in the same run so the pre-flood outputs can be measured: their
// sum is what `runBatch` does.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { HeContext } from '../../he/context.ts';
import { decrypt, saveCiphertext } from '../../he/crypt.ts';
import { decodeSlots } from '../../he/encoder.ts';
import { Evaluator } from '../../he/evaluator.ts';
import { generateKeys } from '../../he/keys.ts';
import { loadIdxDataset } from '../data/idx.node.ts';
import {
  _runBatchStages,
  createBatchMasks,
  decryptBatch,
  encryptBatch,
  planBatch,
} from './batch-executor.ts';
import { measuredLambda, protectResponse } from './batch-protection.ts';
import { decryptOutput, encryptInput } from './client.ts';
import { EncryptedCnn } from './encrypted-executor.ts';
import { parseCnnModel } from './ir.ts';
import { planCnn } from './planner.ts';
import { preprocessImage, referenceForward } from './reference.ts';
import { argmax } from './results-eval.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '4096' },
    mode: { type: 'string', default: 'both' },
    model: { type: 'string', default: 'models/mnist-tenseal/model.json' },
    out: { type: 'string' },
  },
});
const n = Number(values.n);
const model = parseCnnModel(JSON.parse(readFileSync(values.model!, 'utf8')));
const mnist = loadIdxDataset('mnist', 'test');
const images = Array.from({ length: n }, (_, i) => mnist.images.subarray(i * 784, (i + 1) * 784));
const labels = Array.from({ length: n }, (_, i) => mnist.labels[i]);
const ref = images.map((px) => referenceForward(model, preprocessImage(model, px)));
const log = (s: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const ms = (t: number) => Math.round(performance.now() - t);

const rows = [];
if (values.mode === 'latency') {
  // The protected latency plan, one image at a time: a mask made on the request path vs ahead of
  // time (cnn.createMask()), interleaved, medians over images 1…n−1 (image 0 warms up).
  const plan = planCnn(model);
  using ctx = await HeContext.create(plan.client.params);
  using keys = generateKeys(ctx, { relin: plan.client.relin, galoisSteps: plan.client.galoisSteps });
  using cnn = new EncryptedCnn(ctx, keys, plan.server);
  const fresh: number[] = [];
  const ahead: number[] = [];
  const maskMs: number[] = [];
  let maxErr = 0;
  for (let i = 0; i < n; i++) {
    using ct = encryptInput(ctx, keys, plan.client, images[i]);
    let t = performance.now();
    using a = cnn.infer(ct);
    const f = performance.now() - t;
    t = performance.now();
    const mask = cnn.createMask();
    const m = performance.now() - t;
    t = performance.now();
    using b = cnn.infer(ct, { mask });
    const h = performance.now() - t;
    for (const out of [a, b])
      decryptOutput(keys, plan.client, out).forEach((v, k) => {
        maxErr = Math.max(maxErr, Math.abs(v - ref[i][k]));
      });
    if (i === 0) continue; // warm-up: encodes the weights
    fresh.push(f);
    ahead.push(h);
    maskMs.push(m);
  }
  const median = (v: number[]) => Number([...v].sort((x, y) => x - y)[v.length >> 1].toFixed(1));
  const row = {
    mode: 'latency',
    params: plan.client.params,
    images: n - 1,
    msFreshMask: median(fresh),
    msMaskAhead: median(ahead),
    msMaskAlone: median(maskMs),
    maxAbsLogitError: Number(maxErr.toExponential(2)),
  };
  log(JSON.stringify(row));
  rows.push(row);
}
const modes =
  values.mode === 'latency' ? [] : values.mode === 'both' ? [false, true] : [values.mode === 'protected'];
for (const protect of modes) {
  const plan = planBatch(model, { protect });
  const name = protect ? 'protected' : 'unprotected';
  log(
    `${name}: N=${plan.params.literal.polyModulusDegree} [${plan.params.literal.coeffModulusBits}], ${n} images`,
  );
  using ctx = await HeContext.create(plan.params.literal);
  using keys = generateKeys(ctx, { relin: true });
  let t = performance.now();
  const cts = encryptBatch(ctx, keys, plan, images);
  const encryptMs = ms(t);
  log(`${name}: encrypted ${cts.length} ciphertexts in ${encryptMs} ms`);
  t = performance.now();
  const pre = _runBatchStages(ctx, keys, plan, cts, n);
  const stagesMs = ms(t);
  log(`${name}: stages ${stagesMs} ms`);
  for (const c of cts) c[Symbol.dispose]();
  let protectMs = 0;
  let masksMs = 0;
  let preFlood: number | undefined;
  let unusedPre: number | undefined;
  let outs = pre;
  const p = plan.protection;
  if (p !== undefined) {
    // Pre-flood error over every slot: used slots vs float64, unused slots vs 0.
    let eps = 0;
    let unused = 0;
    pre.forEach((c, k) => {
      using pt = decrypt(keys, c);
      decodeSlots(pt, ctx.params.slots).forEach((v, j) => {
        const e = Math.abs(v - (j < n ? ref[j][k] : 0));
        eps = Math.max(eps, e);
        if (j >= n) unused = Math.max(unused, e);
      });
    });
    preFlood = eps;
    unusedPre = unused;
    const ev = new Evaluator(ctx, keys);
    t = performance.now();
    outs = pre.map((c) => protectResponse(ev, keys, p, c));
    protectMs = ms(t);
    for (const c of pre) c[Symbol.dispose]();
    // The same step with masks made ahead of time: only the additions stay on the request path.
    t = performance.now();
    const masks = createBatchMasks(ctx, keys, plan);
    masksMs = ms(t);
    for (const m of masks) m[Symbol.dispose]();
    log(
      `${name}: protect ${protectMs} ms (masks alone ${masksMs} ms), pre-flood max slot error ${eps.toExponential(2)}`,
    );
  }
  const serverMs = stagesMs + protectMs;
  const bytesDown = outs.reduce((a, c) => a + saveCiphertext(c).length, 0);
  t = performance.now();
  const logits = decryptBatch(keys, outs, n, plan);
  const decryptMs = ms(t);
  let unusedMax = 0;
  for (const c of outs) {
    using pt = decrypt(keys, c);
    const all = decodeSlots(pt, ctx.params.slots);
    for (let j = n; j < all.length; j++) unusedMax = Math.max(unusedMax, Math.abs(all[j]));
  }
  for (const c of outs) c[Symbol.dispose]();
  let maxErr = 0;
  let agree = 0;
  let correct = 0;
  let plainCorrect = 0;
  logits.forEach((l, i) => {
    l.forEach((v, k) => {
      maxErr = Math.max(maxErr, Math.abs(v - ref[i][k]));
    });
    if (argmax(l) === argmax(ref[i])) agree++;
    if (argmax(l) === labels[i]) correct++;
    if (argmax(ref[i]) === labels[i]) plainCorrect++;
  });
  const row = {
    mode: name,
    params: plan.params.literal,
    depth: plan.depth,
    images: n,
    slots: ctx.params.slots,
    encryptMs,
    serverMs,
    stagesMs,
    protectMs,
    masksMs,
    decryptMs,
    imagesPerSecond: Number(((n * 1000) / serverMs).toFixed(1)),
    msPerImage: Number((serverMs / n).toFixed(2)),
    bytesDown,
    maxAbsLogitError: Number(maxErr.toExponential(2)),
    argmaxAgreement: agree / n,
    accuracy: correct / n,
    plainAccuracy: plainCorrect / n,
    unusedSlotsMax: Number(unusedMax.toExponential(2)),
    ...(p !== undefined && preFlood !== undefined
      ? {
          protection: p,
          preFloodMaxSlotError: Number(preFlood.toExponential(2)),
          preFloodUnusedSlotsMax: Number(unusedPre!.toExponential(2)),
          lambdaMeasured: Number(measuredLambda(p, preFlood).toFixed(1)),
        }
      : {}),
  };
  log(JSON.stringify(row));
  rows.push(row);
}
const out = { date: new Date().toISOString(), model: model.name, rows };
if (values.out) writeFileSync(values.out, `${JSON.stringify(out, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);

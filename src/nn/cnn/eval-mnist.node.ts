// Encrypted vs plaintext accuracy of a CNN IR model on MNIST-format test images. Heavy (≈0.4 s per
// image encrypted on one core): run by hand, never from `npm test`. Shards let two processes split
// the 10,000 images; `--out` keeps per-image results so shards can be merged.
//
//   node src/nn/cnn/eval-mnist.node.ts [--model models/mnist-tenseal] [--images 100] [--offset 0]
//        [--mode encrypted|simulated] [--dataset mnist|fashion-mnist] [--out results.json] [--json]
//        [--protect on|off]   (on by default: the served plan, responses extracted and flooded)
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { HeContext } from '../../he/context.ts';
import { generateKeys } from '../../he/keys.ts';
import { loadIdxDataset } from '../data/idx.node.ts';
import { argmax } from '../logits.ts';
import { packInput } from './client.ts';
import { EncryptedCnn, inferLocally } from './encrypted-executor.ts';
import { runStages } from './executor.ts';
import { parseCnnModel } from './ir.ts';
import { planCnn } from './planner.ts';
import { preprocessImage, referenceForward } from './reference.ts';
import { SimBackend } from './sim-backend.ts';

/** Per-image outcome. */
interface ImageResult {
  index: number;
  label: number;
  plain: number;
  he: number;
  maxAbsDelta: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: 'models/mnist-tenseal' },
      images: { type: 'string', default: '100' },
      offset: { type: 'string', default: '0' },
      mode: { type: 'string', default: 'encrypted' },
      dataset: { type: 'string', default: 'mnist' },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      protect: { type: 'string', default: 'on' },
    },
  });
  const model = parseCnnModel(JSON.parse(readFileSync(resolve(values.model!, 'model.json'), 'utf8')));
  const test = loadIdxDataset(values.dataset as 'mnist' | 'fashion-mnist', 'test');
  const offset = Number(values.offset);
  const n = Math.min(Number(values.images), test.n - offset);
  const plan = planCnn(model, { protect: values.protect !== 'off' });
  const size = model.inputShape.reduce((a, b) => a * b, 1);
  const results: ImageResult[] = [];
  const t0 = performance.now();

  let infer: (px: Uint8Array) => Float64Array;
  let cleanup = () => {};
  if (values.mode === 'simulated') {
    const sim = new SimBackend(
      { ...plan.client.params, scaleBits: plan.client.params.scaleBits! },
      { seed: 7 },
    );
    infer = (px) => {
      const out = sim.decrypt(
        runStages(sim, plan.server.stages, sim.encrypt(packInput(plan.client, px), plan.client.input.period)),
      );
      return Float64Array.from(plan.client.output.positions, (p) => out[p]);
    };
  } else {
    const ctx = await HeContext.create(plan.client.params);
    const keys = generateKeys(ctx, { relin: plan.client.relin, galoisSteps: plan.client.galoisSteps });
    const cnn = new EncryptedCnn(ctx, keys, plan.server);
    infer = (px) => inferLocally(ctx, keys, plan.client, cnn, px);
    cleanup = () => {
      cnn[Symbol.dispose]();
      keys[Symbol.dispose]();
      ctx[Symbol.dispose]();
    };
  }

  const summary = () => {
    const k = results.length;
    const acc = (f: (r: ImageResult) => boolean) => results.filter(f).length / Math.max(1, k);
    return {
      model: model.name,
      mode: values.mode,
      params: plan.client.params,
      protection: plan.client.protection ?? null,
      offset,
      images: k,
      plaintextAccuracy: acc((r) => r.plain === r.label),
      heAccuracy: acc((r) => r.he === r.label),
      agreement: acc((r) => r.he === r.plain),
      maxAbsLogitDelta: results.reduce((a, r) => Math.max(a, r.maxAbsDelta), 0),
      msPerImage: (performance.now() - t0) / Math.max(1, k),
    };
  };
  const save = () => {
    if (values.out) writeFileSync(values.out, `${JSON.stringify({ ...summary(), results })}\n`);
  };

  for (let i = offset; i < offset + n; i++) {
    const px = test.images.subarray(i * size, (i + 1) * size) as Uint8Array;
    const plainLogits = referenceForward(model, preprocessImage(model, px));
    const heLogits = infer(px);
    let d = 0;
    plainLogits.forEach((v, k) => {
      d = Math.max(d, Math.abs(v - heLogits[k]));
    });
    results.push({
      index: i,
      label: test.labels[i],
      plain: argmax(plainLogits),
      he: argmax(heLogits),
      maxAbsDelta: d,
    });
    if (results.length % 100 === 0) {
      const s = summary();
      process.stderr.write(
        `${s.images}/${n}: plain ${(100 * s.plaintextAccuracy).toFixed(2)}% ${values.mode} ${(100 * s.heAccuracy).toFixed(2)}% agree ${(100 * s.agreement).toFixed(2)}% ${s.msPerImage.toFixed(0)} ms/image\n`,
      );
      save();
    }
  }
  cleanup();
  save();
  const s = summary();
  if (values.json) console.log(JSON.stringify(s));
  else
    console.log(
      `${s.model} on ${s.images} ${values.dataset} test images from #${offset}: plaintext ${(100 * s.plaintextAccuracy).toFixed(2)}%, ${values.mode} ${(100 * s.heAccuracy).toFixed(2)}%, argmax agreement ${(100 * s.agreement).toFixed(2)}%, max |Δlogit| ${s.maxAbsLogitDelta.toExponential(2)}, ${s.msPerImage.toFixed(1)} ms/image`,
    );
}

await main();

// Tiled flow cost: a 224×224×3 image cut into 7×7 patches of 32×32×3, classified by a small colour
// CNN (conv 3→4 4×4/4 → x² → dense 256→10, seeded random weights: cost does not depend on the
// weights) — one patch alone (latency plan), 49 streamed (latency plan, one ciphertext each) and
// packed (throughput mode, one patch per slot) for 1 and 49 patches. Heavy-ish (≈1 min): run by
// hand, never from `npm test`.
//
//   node src/nn/cnn/tiles-bench.node.ts [--out docs/tiles-bench.json] [--grid 7x7]
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { HeContext } from '../../he/context.ts';
import { encryptSymmetricSeeded, saveCiphertext } from '../../he/crypt.ts';
import { encodeSlots } from '../../he/encoder.ts';
import { generateKeys } from '../../he/keys.ts';
import { Rng } from '../train/rng.ts';
import { decryptBatch, encryptBatch, planBatch, runBatch } from './batch-executor.ts';
import { decryptOutput, encryptInput, encryptInputSeeded } from './client.ts';
import { EncryptedCnn } from './encrypted-executor.ts';
import type { CnnModel } from './ir.ts';
import { planCnn } from './planner.ts';
import { aggregateLogits, classifyTilesPlain, cutTiles, parseGridSpec, planTileGrid } from './tiles.ts';

const { values } = parseArgs({
  options: { out: { type: 'string' }, grid: { type: 'string', default: '7x7' } },
});
const rng = new Rng(7);
const randn = (n: number, s: number) => Array.from({ length: n }, () => rng.normal() * s);
const model: CnnModel = {
  format: 'blinddx-cnn',
  version: 1,
  name: 'colour-32',
  inputShape: [3, 32, 32],
  preprocessing: { scale: 1 / 255, mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26] },
  layers: [
    {
      op: 'conv2d',
      inChannels: 3,
      outChannels: 4,
      kernel: [4, 4],
      stride: [4, 4],
      padding: [0, 0],
      weight: randn(192, 0.2),
      bias: randn(4, 0.1),
    },
    { op: 'poly', coeffs: [0, 0, 1] },
    { op: 'flatten' },
    { op: 'dense', inFeatures: 256, outFeatures: 10, weight: randn(2560, 0.06), bias: randn(10, 0.1) },
  ],
};
const { rows, cols } = parseGridSpec(values.grid!);
const image = {
  channels: 3,
  height: rows * 32,
  width: cols * 32,
  data: Uint8Array.from({ length: 3 * rows * 32 * cols * 32 }, () => rng.int(256)),
};
const patches = cutTiles(image, planTileGrid(image, { height: 32, width: 32 }));
const k = patches.length;
const want = classifyTilesPlain(model, patches);
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
};
const ms = (t: number) => Number((performance.now() - t).toFixed(1));
const log = (s: string) => process.stderr.write(`${s}\n`);

// Latency plan: one ciphertext per patch.
const plan = planCnn(model);
const latency = await (async () => {
  using ctx = await HeContext.create(plan.client.params);
  using keys = generateKeys(ctx, { relin: plan.client.relin, galoisSteps: plan.client.galoisSteps });
  const material = keys.exportPublic();
  using cnn = new EncryptedCnn(ctx, keys, plan.server);
  {
    using ct = encryptInput(ctx, keys, plan.client, patches[0]);
    using _warm = cnn.infer(ct);
  }
  const per: number[] = [];
  const server: number[] = [];
  const logits: Float64Array[] = [];
  let bytesUp = 0;
  let bytesDown = 0;
  const t0 = performance.now();
  for (const p of patches) {
    const t = performance.now();
    bytesUp += encryptInputSeeded(ctx, keys, plan.client, p).length;
    using ct = encryptInput(ctx, keys, plan.client, p);
    const ts = performance.now();
    using out = cnn.infer(ct);
    server.push(ms(ts));
    bytesDown += saveCiphertext(out).length;
    logits.push(decryptOutput(keys, plan.client, out));
    per.push(ms(t));
  }
  const total = ms(t0);
  log(`latency: ${k} patches streamed in ${total} ms (${(total / k).toFixed(1)} ms/patch)`);
  const sorted = [...server].sort((a, b) => a - b);
  return {
    params: `N=${plan.client.params.polyModulusDegree} [${plan.client.params.coeffModulusBits.join(',')}]`,
    galoisKeys: plan.client.galoisSteps.length,
    galoisKeyBytes: material.galoisKeys?.length ?? 0,
    onePatchServerMs: sorted[Math.floor(sorted.length / 2)],
    onePatchTotalMs: per.sort((a, b) => a - b)[Math.floor(per.length / 2)],
    onePatchBytesUp: bytesUp / k,
    onePatchBytesDown: bytesDown / k,
    streamedTotalMs: total,
    streamedBytesUp: bytesUp,
    streamedBytesDown: bytesDown,
    maxAbsAggregateError: maxDiff(aggregateLogits(logits), want.aggregate),
  };
})();

// Throughput mode: one patch per slot.
const batch = planBatch(model);
const packed = await (async () => {
  using ctx = await HeContext.create(batch.params.literal);
  using keys = generateKeys(ctx, { relin: true });
  const seeded = (() => {
    using pt = encodeSlots(ctx, [0], { period: 1 });
    return encryptSymmetricSeeded(keys, pt).length;
  })();
  const rowsOut = [];
  for (const set of [patches.slice(0, 1), patches]) {
    const t0 = performance.now();
    const cts = encryptBatch(ctx, keys, batch, set);
    const encryptMs = ms(t0);
    const t1 = performance.now();
    const outs = runBatch(ctx, keys, batch, cts, { batch: set.length });
    const serverMs = ms(t1);
    const bytesDown = outs.reduce((a, c) => a + saveCiphertext(c).length, 0);
    const t2 = performance.now();
    const logits = decryptBatch(keys, outs, set.length);
    const decryptMs = ms(t2);
    for (const c of [...cts, ...outs]) c[Symbol.dispose]();
    const err = maxDiff(
      aggregateLogits(logits),
      set.length === k ? want.aggregate : aggregateLogits(want.perPatch.slice(0, 1)),
    );
    log(`packed ${set.length}: encrypt ${encryptMs} ms, server ${serverMs} ms, decrypt ${decryptMs} ms`);
    rowsOut.push({
      patches: set.length,
      encryptMs,
      serverMs,
      decryptMs,
      totalMs: Number((encryptMs + serverMs + decryptMs).toFixed(1)),
      bytesUp: seeded * batch.inputs,
      bytesDown,
      maxAbsAggregateError: err,
    });
  }
  return {
    params: `N=${batch.params.literal.polyModulusDegree} [${batch.params.literal.coeffModulusBits.join(',')}]`,
    galoisKeyBytes: 0,
    rows: rowsOut,
  };
})();

const report = {
  model: 'colour-32 (conv 3→4 4×4/4 → x² → dense 256→10, seeded random weights)',
  image: `${image.height}×${image.width}×3`,
  patches: k,
  latency,
  packed,
  ratios: {
    packedKOverPackedOne: packed.rows[1].totalMs / packed.rows[0].totalMs,
    packedKOverLatencyOne: packed.rows[1].totalMs / latency.onePatchTotalMs,
    streamedKOverLatencyOne: latency.streamedTotalMs / latency.onePatchTotalMs,
  },
};
console.log(JSON.stringify(report, null, 2));
if (values.out) writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);

// Tiled flow cost: a 224×224×3 image cut into 7×7 patches of 32×32×3, classified by a small colour
// CNN (conv 3→4 4×4/4 → x² → dense 256→10, seeded random weights: cost does not depend on the
// weights). Rows, each end to end over the wire format (client: seeded encryption → server: load,
// run, protect, save → client: load, decrypt):
// - one patch on the protected latency plan (the served path) and all patches streamed on it;
// - the window-packed layout (window-packed.ts, protected) for all patches and for one patch.
// Medians of repeated runs; server time with the protection masks made on the request path, and
// without them (masks are query-independent and can be made ahead of time). Heavy-ish (≈1 min):
// run by hand on a quiet machine, never from `npm test`.
//
//   node src/nn/cnn/tiles-bench.node.ts [--out docs/tiles-bench.json] [--grid 7x7] [--reps 5]
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { HeContext } from '../../he/context.ts';
import { decrypt, saveCiphertext } from '../../he/crypt.ts';
import { decodeSlots } from '../../he/encoder.ts';
import type { Ciphertext } from '../../he/handles.ts';
import { loadCiphertext } from '../../he/hardened-load.ts';
import { generateKeys } from '../../he/keys.ts';
import type { Layout } from '../../he/layout.ts';
import { Rng } from '../train/rng.ts';
import { decryptOutput, encryptInput, encryptInputSeeded } from './client.ts';
import { EncryptedCnn } from './encrypted-executor.ts';
import type { CnnModel } from './ir.ts';
import { planCnn } from './planner.ts';
import { median as medianRaw } from './results-eval.ts';
import { aggregateLogits, classifyTilesPlain, cutTiles, parseGridSpec, planTileGrid } from './tiles.ts';
import {
  packWindowInputs,
  planWindowPacked,
  windowMaskLambda,
  windowPackedLayout,
  windowPackedPlain,
} from './window-packed.ts';
import { decryptWindowOutputs, encryptWindowInputsSeeded, WindowPackedServer } from './window-packed-he.ts';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    grid: { type: 'string', default: '7x7' },
    reps: { type: 'string', default: '5' },
  },
});
const reps = Number(values.reps);
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
const round = (v: number) => Number(v.toFixed(1));
const median = (xs: number[]) => round(medianRaw(xs));
const log = (s: string) => process.stderr.write(`${s}\n`);
const dispose = (cs: readonly Ciphertext[]) => {
  for (const c of cs) c[Symbol.dispose]();
};

interface Timing {
  encryptMs: number;
  serverMs: number;
  maskMs: number;
  decryptMs: number;
  bytesUp: number;
  bytesDown: number;
  logits: Float64Array[];
  /** Which patches the logits belong to. */
  first: number;
}
interface Row {
  readonly name: string;
  readonly patches: number;
  readonly params: string;
  readonly galoisKeys: number;
  readonly galoisKeyBytes: number;
  readonly encryptMs: number;
  /** Load + run + protect (masks made on the request path) + save. */
  readonly serverMs: number;
  /** Of which: making the protection masks (query-independent: can be made ahead of time). */
  readonly maskMs: number;
  readonly decryptMs: number;
  readonly totalMs: number;
  /** Total with masks made ahead of time. */
  readonly totalPremaskedMs: number;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly maxAbsAggregateError: number;
}
const summarize = (
  name: string,
  n: number,
  params: string,
  galois: { count: number; bytes: number },
  runs: Timing[],
): Row => {
  const enc = median(runs.map((r) => r.encryptMs));
  const srv = median(runs.map((r) => r.serverMs));
  const mask = median(runs.map((r) => r.maskMs));
  const dec = median(runs.map((r) => r.decryptMs));
  const total = median(runs.map((r) => r.encryptMs + r.serverMs + r.decryptMs));
  const pre = median(runs.map((r) => r.encryptMs + r.serverMs - r.maskMs + r.decryptMs));
  const last = runs.at(-1)!;
  const ref = want.perPatch.slice(last.first, last.first + n);
  return {
    name,
    patches: n,
    params,
    galoisKeys: galois.count,
    galoisKeyBytes: galois.bytes,
    encryptMs: enc,
    serverMs: srv,
    maskMs: mask,
    decryptMs: dec,
    totalMs: total,
    totalPremaskedMs: pre,
    bytesUp: last.bytesUp,
    bytesDown: last.bytesDown,
    maxAbsAggregateError: maxDiff(aggregateLogits(last.logits), aggregateLogits(ref)),
  };
};

// Rigs: keys, server state and one end-to-end run each. Runs are interleaved (latency, packed all,
// packed one, latency, …) so that every row sees the same machine load; ratios are also given
// as the median of the per-round ratios.
const cleanup: Array<{ [Symbol.dispose](): void }> = [];

// 1. Latency plan (protected, the served path): one ciphertext per patch.
const plan = planCnn(model);
const latencyRig = await (async () => {
  const ctx = await HeContext.create(plan.client.params);
  const keys = generateKeys(ctx, { relin: plan.client.relin, galoisSteps: plan.client.galoisSteps });
  const cnn = new EncryptedCnn(ctx, keys, plan.server);
  cleanup.push(cnn, keys, ctx);
  const material = keys.exportPublic();
  const inLayout: Layout = (() => {
    using ct = encryptInput(ctx, keys, plan.client, patches[0]);
    using _warm = cnn.infer(ct);
    return ct.layout;
  })();
  const once = (index: number): Timing => {
    const p = patches[index];
    const t0 = performance.now();
    const up = encryptInputSeeded(ctx, keys, plan.client, p);
    const t1 = performance.now();
    using ct = loadCiphertext(ctx, up, { layout: inLayout, level: ctx.maxLevel });
    const t2 = performance.now();
    using mask = cnn.createMask();
    const t3 = performance.now();
    using out = cnn.infer(ct, { mask });
    const down = saveCiphertext(out);
    const t4 = performance.now();
    using back = loadCiphertext(ctx, down, { layout: out.layout, level: out.level, allowSeeded: false });
    const logits = decryptOutput(keys, plan.client, back);
    const t5 = performance.now();
    return {
      encryptMs: t1 - t0,
      serverMs: t4 - t1,
      maskMs: t3 - t2,
      decryptMs: t5 - t4,
      bytesUp: up.length,
      bytesDown: down.length,
      logits: [logits],
      first: index,
    };
  };
  return {
    once,
    params: `N=${plan.client.params.polyModulusDegree} [${plan.client.params.coeffModulusBits.join(',')}]`,
    galois: { count: plan.client.galoisSteps.length, bytes: material.galoisKeys?.length ?? 0 },
  };
})();

// 2. Window-packed (protected): all patches in one request, and one patch alone.
const windowRig = async (n: number) => {
  const wp = planWindowPacked(model, { patches: n });
  const layout = windowPackedLayout(wp);
  const set = patches.slice(0, n);
  const ctx = await HeContext.create(wp.chain.literal);
  const keys = generateKeys(ctx, { relin: true, galoisSteps: wp.galoisSteps });
  const material = keys.exportPublic();
  const ti = performance.now();
  const server = new WindowPackedServer(ctx, keys, wp);
  const serverInitMs = round(performance.now() - ti);
  cleanup.push(server, keys, ctx);
  const period = wp.block * wp.copies;
  const inLayout: Layout = { kind: 'slots', length: period, period };
  const once = (): Timing => {
    const t0 = performance.now();
    const up = encryptWindowInputsSeeded(ctx, keys, layout, set);
    const t1 = performance.now();
    const cts = up.map((b) =>
      loadCiphertext(ctx, b, { layout: inLayout, level: ctx.maxLevel, scale: 2 ** wp.chain.inputScaleBits }),
    );
    const t2 = performance.now();
    const masks = server.createMasks();
    const t3 = performance.now();
    const outs = server.run(cts, masks);
    const down = outs.map((c) => saveCiphertext(c));
    const t4 = performance.now();
    const back = down.map((b, i) =>
      loadCiphertext(ctx, b, { layout: outs[i].layout, level: outs[i].level, allowSeeded: false }),
    );
    const logits = decryptWindowOutputs(keys, layout, back, n);
    const t5 = performance.now();
    dispose([...cts, ...outs, ...back]);
    return {
      encryptMs: t1 - t0,
      serverMs: t4 - t1,
      maskMs: t3 - t2,
      decryptMs: t5 - t4,
      bytesUp: up.reduce((a, b) => a + b.length, 0),
      bytesDown: down.reduce((a, b) => a + b.length, 0),
      logits,
      first: 0,
    };
  };
  once(); // warm-up
  // λ of the flood: from the largest pre-flood slot error ε over all N/2 slots, λ = log2(2σ /
  // (√2·ε·2^scale)). ε is the noise alone: the expected slots are recomputed in float64 from the
  // plaintexts the client and the server actually encoded (their rounding is a fixed perturbation
  // of the inputs and weights, not noise), through the same fold, square and products.
  const lambda = () => {
    const twin = windowPackedPlain(wp, set);
    let eps = 0;
    const eff = server._effectiveWeights();
    const xs = packWindowInputs(layout, set);
    const hs = eff.conv.map((row, c) => {
      const u = new Float64Array(period);
      row.forEach((w, i) => {
        for (let j = 0; j < period; j++) u[j] += xs[i][j] * w[j];
      });
      for (const st of wp.galoisSteps) {
        const r = Float64Array.from(u, (_, j) => u[(j + st) % period]);
        for (let j = 0; j < period; j++) u[j] += r[j];
      }
      return Float64Array.from(u, (v) => (v + eff.convBias[c]) ** 2);
    });
    const enc = encryptWindowInputsSeeded(ctx, keys, layout, set).map((b) =>
      loadCiphertext(ctx, b, { layout: inLayout, level: ctx.maxLevel }),
    );
    const raw = server._compute(enc);
    raw.forEach((c, o) => {
      using pt = decrypt(keys, c);
      const v = decodeSlots(pt, ctx.params.slots);
      for (let i = 0; i < v.length; i++) {
        const j = i % period;
        let exp = 0;
        for (let ch = 0; ch < wp.channels; ch++) exp += hs[ch][j] * eff.dense[o][ch][j];
        eps = Math.max(eps, Math.abs(v[i] - exp));
      }
    });
    dispose([...enc, ...raw]);
    let zMax = 0;
    for (const zs of twin.partials) for (const z of zs) for (const v of z) zMax = Math.max(zMax, Math.abs(v));
    return {
      preFloodMaxSlotError: eps,
      lambdaFlood: Number((wp.floodSigmaBits + 0.5 - wp.chain.outputScaleBits - Math.log2(eps)).toFixed(1)),
      maxAbsPartial: zMax,
      lambdaMask: Number(windowMaskLambda(wp, zMax).toFixed(1)),
    };
  };
  return {
    once,
    lambda,
    serverInitMs,
    name: `window-packed, ${n} patch${n > 1 ? 'es' : ''}`,
    params: `N=${wp.chain.literal.polyModulusDegree} [${wp.chain.literal.coeffModulusBits.join(',')}]`,
    galois: { count: wp.galoisSteps.length, bytes: material.galoisKeys?.length ?? 0 },
    layout: {
      copies: wp.copies,
      inputs: wp.inputs,
      outputs: wp.outputs,
      block: wp.block,
      galoisSteps: wp.galoisSteps,
      maskBits: wp.maskBits,
      floodSigmaBits: wp.floodSigmaBits,
      outputScaleBits: wp.chain.outputScaleBits,
    },
  };
};
const rigAll = await windowRig(k);
const rigOne = await windowRig(1);

const lat: Timing[] = [];
const all: Timing[] = [];
const single: Timing[] = [];
const pairRatios: number[] = [];
const pairRatiosPre: number[] = [];
const tot = (t: Timing) => t.encryptMs + t.serverMs + t.decryptMs;
for (let r = 0; r < reps; r++) {
  const l = latencyRig.once(r % k);
  const a = rigAll.once();
  single.push(rigOne.once());
  lat.push(l);
  all.push(a);
  pairRatios.push(tot(a) / tot(l));
  pairRatiosPre.push((tot(a) - a.maskMs) / (tot(l) - l.maskMs));
  log(`round ${r + 1}/${reps}: latency 1 patch ${round(tot(l))} ms, window-packed ${k} ${round(tot(a))} ms`);
}
const oneRow = summarize('latency plan, 1 patch', 1, latencyRig.params, latencyRig.galois, lat);
const allRow = {
  ...summarize(rigAll.name, k, rigAll.params, rigAll.galois, all),
  serverInitMs: rigAll.serverInitMs,
  layout: rigAll.layout,
  ...rigAll.lambda(),
};
const oneWpRow = {
  ...summarize(rigOne.name, 1, rigOne.params, rigOne.galois, single),
  serverInitMs: rigOne.serverInitMs,
  layout: rigOne.layout,
};
const streamed = (() => {
  const t0 = performance.now();
  const runs = patches.map((_, i) => latencyRig.once(i));
  const wall = performance.now() - t0;
  const sum = (f: (t: Timing) => number) => round(runs.reduce((a, t) => a + f(t), 0));
  const row: Row = {
    name: `latency plan, ${k} patches streamed`,
    patches: k,
    params: latencyRig.params,
    galoisKeys: latencyRig.galois.count,
    galoisKeyBytes: latencyRig.galois.bytes,
    encryptMs: sum((t) => t.encryptMs),
    serverMs: sum((t) => t.serverMs),
    maskMs: sum((t) => t.maskMs),
    decryptMs: sum((t) => t.decryptMs),
    totalMs: round(wall),
    totalPremaskedMs: round(wall - runs.reduce((a, t) => a + t.maskMs, 0)),
    bytesUp: runs.reduce((a, t) => a + t.bytesUp, 0),
    bytesDown: runs.reduce((a, t) => a + t.bytesDown, 0),
    maxAbsAggregateError: maxDiff(aggregateLogits(runs.flatMap((t) => t.logits)), want.aggregate),
  };
  log(`latency ${k} streamed: ${row.totalMs} ms`);
  return row;
})();
for (const c of cleanup) c[Symbol.dispose]();
const latency = { oneRow, streamed };
const packedAll = allRow;
const packedOne = oneWpRow;

const one = latency.oneRow;
const report = {
  model: 'colour-32 (conv 3→4 4×4/4 → x² → dense 256→10, seeded random weights)',
  image: `${image.height}×${image.width}×3`,
  patches: k,
  reps,
  rows: [one, latency.streamed, packedAll, packedOne],
  ratios: {
    medianOfRoundRatios: medianRaw(pairRatios),
    medianOfRoundRatiosPremasked: medianRaw(pairRatiosPre),
    packedAllOverLatencyOne: packedAll.totalMs / one.totalMs,
    packedAllOverLatencyOnePremasked: packedAll.totalPremaskedMs / one.totalPremaskedMs,
    packedOneOverLatencyOne: packedOne.totalMs / one.totalMs,
    streamedAllOverLatencyOne: latency.streamed.totalMs / one.totalMs,
  },
};
const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
const table = [
  `tiles bench: ${report.model}, ${report.image} → ${k} patches, medians of ${reps} (packed ${k}: ≥3) runs`,
  '',
  `${'row'.padEnd(36)} ${'params'.padEnd(28)} ${'enc ms'.padStart(8)} ${'server'.padStart(8)} ${'(masks)'.padStart(8)} ${'dec ms'.padStart(7)} ${'total'.padStart(8)} ${'premask'.padStart(8)} ${'up'.padStart(10)} ${'down'.padStart(10)} ${'Galois'.padStart(10)} ${'max|err|'.padStart(9)}`,
  ...report.rows.map(
    (r) =>
      `${r.name.padEnd(36)} ${r.params.padEnd(28)} ${String(r.encryptMs).padStart(8)} ${String(r.serverMs).padStart(8)} ${String(r.maskMs).padStart(8)} ${String(r.decryptMs).padStart(7)} ${String(r.totalMs).padStart(8)} ${String(r.totalPremaskedMs).padStart(8)} ${mb(r.bytesUp).padStart(10)} ${mb(r.bytesDown).padStart(10)} ${mb(r.galoisKeyBytes).padStart(10)} ${r.maxAbsAggregateError.toExponential(1).padStart(9)}`,
  ),
  '',
  `${k} packed / 1 latency patch: ${report.ratios.packedAllOverLatencyOne.toFixed(2)}× end to end (floor ≤ 3×); ${report.ratios.packedAllOverLatencyOnePremasked.toFixed(2)}× with masks made ahead of time`,
  `  per interleaved round (median of ${reps}): ${report.ratios.medianOfRoundRatios.toFixed(2)}×, ${report.ratios.medianOfRoundRatiosPremasked.toFixed(2)}× with masks ahead of time`,
  `1 packed / 1 latency patch: ${report.ratios.packedOneOverLatencyOne.toFixed(2)}×;  ${k} streamed / 1 latency patch: ${report.ratios.streamedAllOverLatencyOne.toFixed(1)}×`,
  `window-packed λ: flood ${packedAll.lambdaFlood} (pre-flood max slot error ${packedAll.preFloodMaxSlotError.toExponential(1)}), zero-sum masks ${packedAll.lambdaMask} (max |partial| ${packedAll.maxAbsPartial.toFixed(2)}, masks ±2^${packedAll.layout.maskBits})`,
];
console.log(table.join('\n'));
if (values.out) writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);

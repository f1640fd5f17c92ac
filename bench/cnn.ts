// `npm run bench -- cnn [--json] [--images N] [--nets a,b] [--no-baseline]` (or `node bench/cnn.ts`):
// the TenSEAL MNIST tutorial network encrypted two ways in one process, same trained weights —
// TenSEAL's packing (im2col conv per channel, mask packing, diagonal vector–matrix products with
// power-of-two keys) and BlindDx's plan (one im2col conv for all channels, BSGS diagonals, exact
// Galois keys, smallest parameters). Times are the server's per-image inference, after one warm-up
// image that encodes the weights. Progress goes to stderr so `--json` stdout stays one object.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { HeContext } from '../src/he/context.ts';
import { decrypt, encryptSymmetricSeeded, saveCiphertext } from '../src/he/crypt.ts';
import { decodeSlots, encodeSlots } from '../src/he/encoder.ts';
import { Evaluator } from '../src/he/evaluator.ts';
import type { Ciphertext } from '../src/he/handles.ts';
import { generateKeys, type KeySet } from '../src/he/keys.ts';
import { decryptBatch, encryptBatch, planBatch, runBatch } from '../src/nn/cnn/batch-executor.ts';
import { decryptOutput, encryptInput, encryptInputSeeded } from '../src/nn/cnn/client.ts';
import { EncryptedCnn } from '../src/nn/cnn/encrypted-executor.ts';
import { runStages } from '../src/nn/cnn/executor.ts';
import { HeBackend } from '../src/nn/cnn/he-backend.ts';
import { type CnnModel, parseCnnModel } from '../src/nn/cnn/ir.ts';
import { CnnPool } from '../src/nn/cnn/node/cnn-pool.ts';
import type { ClientPlan } from '../src/nn/cnn/plan.ts';
import { planCnn } from '../src/nn/cnn/planner.ts';
import { preprocessImage, referenceForward } from '../src/nn/cnn/reference.ts';
import { argmax, median } from '../src/nn/cnn/results-eval.ts';
import { TensealBaseline, tensealClientPlan } from '../src/nn/cnn/tenseal-baseline.ts';
import { loadIdxDataset } from '../src/nn/data/idx.node.ts';

/** Shown by `npm run bench -- --help`. */
export const description =
  'encrypted MNIST CNN: TenSEAL packing vs BlindDx plan, same weights (--json, --images N)';

/** One plan's measurements. */
export interface CnnBenchRow {
  /** `blinddx` is the served (protected) plan; `blinddx-unprotected` the same net without output protection. */
  readonly plan: 'tenseal-baseline' | 'blinddx' | 'blinddx-unprotected';
  readonly net: string;
  /** Median server inference time per image, ms. */
  readonly msPerImage: number;
  /** Seeded input ciphertext(s), bytes. */
  readonly bytesUp: number;
  /** Result ciphertext, bytes. */
  readonly bytesDown: number;
  /** Galois keys as uploaded (seeded), bytes. */
  readonly galoisKeyBytes: number;
  readonly relinKeyBytes: number;
  readonly galoisKeys: number;
  readonly params: string;
  readonly keygenMs: number;
  readonly warmupMs: number;
  readonly clientEncryptMs: number;
  readonly clientDecryptMs: number;
  readonly keySwitchesPerImage: number;
  readonly images: number;
  /** Images whose encrypted argmax equals the float64 reference's. */
  readonly argmaxAgreement: number;
  readonly maxAbsLogitError: number;
  /** Output protection of the row's plan (blinddx only), with λ measured on the bench images. */
  readonly protection?: {
    readonly level: number;
    readonly scaleBits: number;
    readonly floodSigmaBits: number;
    /** Planner's prediction. */
    readonly lambda: number;
    /** Largest slot error before the flood (all N/2 slots, logit units), over the bench images. */
    readonly preFloodMaxSlotError: number;
    /** log2(2σ / (√2 · that error · 2^scaleBits)): statistical distance ≤ 2^−λ (Pinsker). */
    readonly lambdaMeasured: number;
  };
}

async function measure(
  name: CnnBenchRow['plan'],
  net: string,
  client: ClientPlan,
  images: Uint8Array[],
  reference: (px: Uint8Array) => Float64Array,
  makeServer: (
    ctx: HeContext,
    keys: KeySet,
  ) => {
    infer(ct: Ciphertext): Ciphertext;
    keySwitches(): number;
    dispose(): void;
    /** Protected plans: the largest slot error before the flood for one image (logit units). */
    preFloodError?(ct: Ciphertext, want: Float64Array): number;
  },
): Promise<CnnBenchRow> {
  using ctx = await HeContext.create(client.params);
  let t = performance.now();
  using keys = generateKeys(ctx, { relin: client.relin, galoisSteps: client.galoisSteps });
  const keygenMs = performance.now() - t;
  const material = keys.exportPublic();
  const server = makeServer(ctx, keys);
  try {
    // Warm-up: the first image encodes every weight plaintext.
    t = performance.now();
    {
      using ct = encryptInput(ctx, keys, client, images[0]);
      using _warm = server.infer(ct);
    }
    const warmupMs = performance.now() - t;
    const times: number[] = [];
    const enc: number[] = [];
    const dec: number[] = [];
    let bytesUp = 0;
    let bytesDown = 0;
    let agree = 0;
    let maxErr = 0;
    let preFlood = 0;
    const ks0 = server.keySwitches();
    for (const px of images) {
      t = performance.now();
      bytesUp = encryptInputSeeded(ctx, keys, client, px).length;
      enc.push(performance.now() - t);
      using ct = encryptInput(ctx, keys, client, px);
      t = performance.now();
      using out = server.infer(ct);
      times.push(performance.now() - t);
      bytesDown = saveCiphertext(out).length;
      t = performance.now();
      const logits = decryptOutput(keys, client, out);
      dec.push(performance.now() - t);
      const want = reference(px);
      if (server.preFloodError) preFlood = Math.max(preFlood, server.preFloodError(ct, want));
      if (argmax(logits) === argmax(want)) agree++;
      want.forEach((w, i) => {
        maxErr = Math.max(maxErr, Math.abs(w - logits[i]));
      });
      process.stderr.write(`  ${name}: ${times.length}/${images.length} ${times.at(-1)!.toFixed(0)} ms\n`);
    }
    return {
      plan: name,
      net,
      msPerImage: Number(median(times).toFixed(1)),
      bytesUp,
      bytesDown,
      galoisKeyBytes: material.galoisKeys?.length ?? 0,
      relinKeyBytes: material.relinKeys?.length ?? 0,
      galoisKeys: client.galoisSteps.length,
      params: `N=${client.params.polyModulusDegree} [${client.params.coeffModulusBits.join(',')}]`,
      keygenMs: Number(keygenMs.toFixed(0)),
      warmupMs: Number(warmupMs.toFixed(0)),
      clientEncryptMs: Number(median(enc).toFixed(1)),
      clientDecryptMs: Number(median(dec).toFixed(1)),
      keySwitchesPerImage: (server.keySwitches() - ks0) / images.length,
      images: images.length,
      argmaxAgreement: agree,
      maxAbsLogitError: Number(maxErr.toExponential(2)),
      ...(client.protection
        ? {
            protection: {
              ...client.protection,
              preFloodMaxSlotError: Number(preFlood.toExponential(2)),
              lambdaMeasured: Number(
                (
                  client.protection.floodSigmaBits +
                  0.5 -
                  client.protection.scaleBits -
                  Math.log2(preFlood)
                ).toFixed(1),
              ),
            },
          }
        : {}),
    };
  } finally {
    server.dispose();
  }
}

/** Runs the bench with the arguments after its name. */
export async function run(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      json: { type: 'boolean', default: false },
      images: { type: 'string', default: '3' },
      nets: { type: 'string', default: 'mnist-tenseal,mnist-2conv' },
      models: { type: 'string', default: resolve(import.meta.dirname, '..', 'models') },
      'no-baseline': { type: 'boolean', default: false },
      throughput: { type: 'string', default: '0' },
      workers: { type: 'string', default: '0' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(
      'usage: npm run bench -- cnn [--json] [--images N (default 3)] [--nets a,b (under --models DIR)] [--no-baseline] [--throughput BATCH (first net, one image per slot; 0 = off)] [--workers N (first net on the worker pool; 0 = off)]',
    );
    return;
  }
  const n = Math.max(1, Number(values.images));
  const test = loadIdxDataset('mnist', 'test');
  const images = Array.from(
    { length: n },
    (_, i) => test.images.subarray(i * 784, (i + 1) * 784) as Uint8Array,
  );
  const rows: CnnBenchRow[] = [];
  for (const net of values.nets!.split(',')) {
    const model = parseCnnModel(JSON.parse(readFileSync(resolve(values.models!, net, 'model.json'), 'utf8')));
    rows.push(...(await benchNet(model, images, !values['no-baseline'])));
  }
  const throughput: ThroughputRow[] = [];
  const batch = Number(values.throughput);
  if (batch > 0) {
    const net = values.nets!.split(',')[0];
    const model = parseCnnModel(JSON.parse(readFileSync(resolve(values.models!, net, 'model.json'), 'utf8')));
    const all = Array.from(
      { length: Math.min(batch, test.n) },
      (_, i) => test.images.subarray(i * 784, (i + 1) * 784) as Uint8Array,
    );
    throughput.push(await benchThroughput(model, all));
  }
  const pool: PoolRow[] = [];
  const workers = Number(values.workers);
  if (workers > 0) {
    const net = values.nets!.split(',')[0];
    const model = parseCnnModel(JSON.parse(readFileSync(resolve(values.models!, net, 'model.json'), 'utf8')));
    pool.push(await benchPool(model, images, workers));
  }
  if (values.json) {
    console.log(
      JSON.stringify({
        rows,
        ...(throughput.length > 0 ? { throughput } : {}),
        ...(pool.length > 0 ? { pool } : {}),
      }),
    );
    return;
  }
  const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
  console.log(`encrypted MNIST CNNs, ${n} test images, one thread, median server ms per image`);
  for (const r of rows) {
    console.log(
      `${r.net.padEnd(14)} ${r.plan.padEnd(19)} ${r.params.padEnd(34)} ${String(r.msPerImage).padStart(8)} ms/image  up ${mb(r.bytesUp)}  down ${mb(r.bytesDown)}  Galois ${r.galoisKeys} keys ${mb(r.galoisKeyBytes)}  relin ${mb(r.relinKeyBytes)}  key switches/image ${r.keySwitchesPerImage}  argmax agree ${r.argmaxAgreement}/${r.images}  max |Δlogit| ${r.maxAbsLogitError}`,
    );
  }
  for (const t of throughput) {
    console.log(
      `${t.net.padEnd(14)} throughput mode, batch ${t.batch}: server ${(t.serverMs / 1000).toFixed(1)} s per batch = ${t.msPerImage.toFixed(2)} ms/image (${t.imagesPerSecond.toFixed(1)} images/s)  up ${mb(t.bytesUp)} (${mb(t.bytesUp / t.batch)}/image)  down ${mb(t.bytesDown)}  Galois keys 0  relin ${mb(t.relinKeyBytes)}  argmax agree ${t.argmaxAgreement}/${t.batch}`,
    );
  }
  for (const p of pool) {
    console.log(
      `${p.net.padEnd(14)} worker pool: ${p.workers} workers ${p.imagesPerSecond.toFixed(2)} images/s vs 1 worker ${p.oneWorkerImagesPerSecond.toFixed(2)} images/s (${p.images} images)`,
    );
  }
  for (const ours of rows.filter((r) => r.plan === 'blinddx')) {
    const base = rows.find((r) => r.plan === 'tenseal-baseline' && r.net === ours.net);
    const open = rows.find((r) => r.plan === 'blinddx-unprotected' && r.net === ours.net);
    const p = ours.protection;
    if (p)
      console.log(
        `${ours.net}: protected responses (level ${p.level}, scale 2^${p.scaleBits}, flood σ 2^${p.floodSigmaBits}): pre-flood max slot error ${p.preFloodMaxSlotError}, λ measured ${p.lambdaMeasured} (predicted ${p.lambda})${open ? `, ${(ours.msPerImage / open.msPerImage).toFixed(2)}× the unprotected plan's time` : ''}`,
      );
    if (base)
      console.log(
        `${ours.net}: BlindDx (protected) ${(base.msPerImage / ours.msPerImage).toFixed(1)}× faster per image than TenSEAL packing${open ? `, unprotected ${(base.msPerImage / open.msPerImage).toFixed(1)}×` : ''}`,
      );
  }
}

/** Throughput mode (one image per slot) on one batch. */
export interface ThroughputRow {
  readonly net: string;
  readonly batch: number;
  readonly params: string;
  readonly serverMs: number;
  readonly msPerImage: number;
  readonly imagesPerSecond: number;
  readonly clientEncryptMs: number;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly relinKeyBytes: number;
  readonly argmaxAgreement: number;
}

async function benchThroughput(model: CnnModel, images: Uint8Array[]): Promise<ThroughputRow> {
  const plan = planBatch(model);
  process.stderr.write(`${model.name}: throughput mode, batch ${images.length}…\n`);
  using ctx = await HeContext.create(plan.params.literal);
  using keys = generateKeys(ctx, { relin: true });
  const material = keys.exportPublic();
  let t = performance.now();
  const cts = encryptBatch(ctx, keys, plan, images);
  const clientEncryptMs = performance.now() - t;
  const seeded = (() => {
    using pt = encodeSlots(ctx, [0], { period: 1 });
    return encryptSymmetricSeeded(keys, pt).length;
  })();
  t = performance.now();
  const outs = runBatch(ctx, keys, plan, cts);
  const serverMs = performance.now() - t;
  const bytesDown = outs.reduce((a, c) => a + saveCiphertext(c).length, 0);
  const logits = decryptBatch(keys, outs, images.length);
  for (const c of [...cts, ...outs]) c[Symbol.dispose]();
  let agree = 0;
  images.forEach((px, b) => {
    if (argmax(logits[b]) === argmax(referenceForward(model, preprocessImage(model, px)))) agree++;
  });
  return {
    net: model.name,
    batch: images.length,
    params: `N=${plan.params.literal.polyModulusDegree} [${plan.params.literal.coeffModulusBits.join(',')}]`,
    serverMs: Number(serverMs.toFixed(0)),
    msPerImage: serverMs / images.length,
    imagesPerSecond: (1000 * images.length) / serverMs,
    clientEncryptMs: Number(clientEncryptMs.toFixed(0)),
    bytesUp: seeded * plan.inputs,
    bytesDown,
    relinKeyBytes: material.relinKeys?.length ?? 0,
    argmaxAgreement: agree,
  };
}

/** Latency-mode plan on the he worker pool: images/s with N workers vs 1. */
export interface PoolRow {
  readonly net: string;
  readonly workers: number;
  readonly images: number;
  readonly imagesPerSecond: number;
  readonly oneWorkerImagesPerSecond: number;
}

async function benchPool(model: CnnModel, images: Uint8Array[], workers: number): Promise<PoolRow> {
  const plan = planCnn(model);
  using ctx = await HeContext.create(plan.client.params);
  using keys = generateKeys(ctx, { relin: plan.client.relin, galoisSteps: plan.client.galoisSteps });
  const material = keys.exportPublic();
  const inputs = images.map((px) => encryptInputSeeded(ctx, keys, plan.client, px));
  const rate = async (size: number) => {
    process.stderr.write(`${model.name}: pool of ${size}…\n`);
    await using pool = await CnnPool.create(plan.server, plan.client, material, size);
    await Promise.all(inputs.slice(0, size).map((ct) => pool.infer(ct))); // warm-up: encodes the weights
    const t0 = performance.now();
    await Promise.all(inputs.map((ct) => pool.infer(ct)));
    return (1000 * inputs.length) / (performance.now() - t0);
  };
  const one = await rate(1);
  const many = await rate(workers);
  return {
    net: model.name,
    workers,
    images: inputs.length,
    imagesPerSecond: many,
    oneWorkerImagesPerSecond: one,
  };
}

async function benchNet(model: CnnModel, images: Uint8Array[], baseline: boolean): Promise<CnnBenchRow[]> {
  const reference = (px: Uint8Array) => referenceForward(model, preprocessImage(model, px));
  const rows: CnnBenchRow[] = [];
  let tensealShaped = true;
  try {
    tensealClientPlan(model);
  } catch {
    tensealShaped = false; // TenSEAL's packing handles one convolution only
  }
  if (baseline && tensealShaped) {
    process.stderr.write(`${model.name}: tenseal-baseline…\n`);
    rows.push(
      await measure(
        'tenseal-baseline',
        model.name,
        tensealClientPlan(model),
        images,
        reference,
        (ctx, keys) => {
          const b = new TensealBaseline(ctx, keys, model);
          return {
            infer: (ct) => b.infer(ct),
            keySwitches: () => b.keySwitches,
            dispose: () => b[Symbol.dispose](),
          };
        },
      ),
    );
  }
  for (const protect of [true, false]) {
    const name = protect ? 'blinddx' : 'blinddx-unprotected';
    process.stderr.write(`${model.name}: ${name}…\n`);
    const plan = planCnn(model, { protect });
    rows.push(
      await measure(name, model.name, plan.client, images, reference, (ctx, keys) => {
        const cnn = new EncryptedCnn(ctx, keys, plan.server);
        // The same stages without the final flood, to measure what the flood must hide.
        const open = protect ? new HeBackend(ctx, new Evaluator(ctx, keys)) : undefined;
        return {
          infer: (ct) => cnn.infer(ct),
          keySwitches: () => cnn.counts.rotations,
          dispose: () => {
            cnn[Symbol.dispose]();
            open?.[Symbol.dispose]();
          },
          ...(open
            ? {
                preFloodError: (ct: Ciphertext, want: Float64Array) => {
                  using out = runStages(open, plan.server.stages, ct);
                  using pt = decrypt(keys, out);
                  const all = decodeSlots(pt, ctx.params.slots);
                  const at = new Map(plan.client.output.positions.map((p, k) => [p, want[k]]));
                  let e = 0;
                  all.forEach((v, j) => {
                    e = Math.max(e, Math.abs(v - (at.get(j) ?? 0)));
                  });
                  return e;
                },
              }
            : {}),
        };
      }),
    );
  }
  return rows;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await run(process.argv.slice(2));
}

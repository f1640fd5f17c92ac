import { HeContext } from '../../he/context.ts';
import { encryptSymmetricSeeded, saveCiphertext } from '../../he/crypt.ts';
import { encodeSlots } from '../../he/encoder.ts';
import { generateKeys } from '../../he/keys.ts';
import type { ImageDataset } from '../data/dataset.ts';
import { NnError } from '../errors.ts';
import { argmax } from '../logits.ts';
import { Rng } from '../train/rng.ts';
import { type BatchPlan, decryptBatch, encryptBatch, planBatch, runBatch } from './batch-executor.ts';
import { decryptOutput, encryptInput, encryptInputSeeded, packInput } from './client.ts';
import { EncryptedCnn } from './encrypted-executor.ts';
import { runStages } from './executor.ts';
import { type CnnModel, shapeSize } from './ir.ts';
import type { CnnPlan } from './plan.ts';
import { planCnn } from './planner.ts';
import { preprocessImage, referenceForward } from './reference.ts';
import { SimBackend } from './sim-backend.ts';
import { interleavedToPlanar } from './tiles.ts';

/**
 * Evaluation of one CNN on a labelled image set through the three executions the results tables
 * compare: plaintext (float64 reference), simulated (SimBackend on the latency plan) and encrypted
 * (real SEAL, throughput mode — one image per slot — or the latency plan, one image per ciphertext).
 * Used by the results pipeline (`results.node.ts`) and `blinddx eval`.
 */

/** Progress callback: `done` of `total` items of `phase`. */
export type Progress = (phase: string, done: number, total: number) => void;

// One argmax for the CNN tools: re-exported here for the scripts that import it with median.
export { argmax } from '../logits.ts';

/** Median (the mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** A fixed subset: the first n indices of a seeded Fisher–Yates shuffle of 0…total−1 (all if n ≥ total). */
export function seededSubset(total: number, n: number, seed: number): number[] {
  if (!(Number.isInteger(n) && n > 0)) {
    throw new NnError('NN_INVALID_ARGUMENT', `cannot take a subset: n must be a positive integer, got ${n}`);
  }
  const idx = Array.from({ length: total }, (_, i) => i);
  if (n >= total) return idx;
  new Rng(seed).shuffle(idx);
  return idx.slice(0, n);
}

/**
 * Image i of a dataset as the model's raw CHW pixels (datasets store colour images HWC). Checks the
 * dataset's image size against the model's input shape.
 */
export function modelImage(model: CnnModel, ds: ImageDataset, i: number): ArrayLike<number> {
  const size = shapeSize(model.inputShape);
  const per = ds.channels * ds.height * ds.width;
  if (per !== size) {
    throw new NnError(
      'NN_SHAPE_MISMATCH',
      `cannot evaluate "${model.name}": dataset images are ${ds.channels}×${ds.height}×${ds.width}, the model takes ${model.inputShape.join('×')}`,
    );
  }
  const px = ds.images.subarray(i * per, (i + 1) * per);
  if (ds.channels === 1) return px;
  return interleavedToPlanar(px, ds.width, ds.height, ds.channels).data;
}

/** Plaintext (float64 reference) logits and decisions. */
export interface PlainResult {
  readonly n: number;
  readonly acc: number;
  readonly logits: readonly Float64Array[];
  readonly preds: readonly number[];
}

export function evaluatePlain(
  model: CnnModel,
  ds: ImageDataset,
  indices: readonly number[],
  onProgress?: Progress,
): PlainResult {
  const logits: Float64Array[] = [];
  const preds: number[] = [];
  let ok = 0;
  indices.forEach((i, j) => {
    const l = referenceForward(model, preprocessImage(model, modelImage(model, ds, i)));
    logits.push(l);
    preds.push(argmax(l));
    if (preds[j] === ds.labels[i]) ok++;
    if ((j + 1) % 1000 === 0 || j + 1 === indices.length) onProgress?.('plaintext', j + 1, indices.length);
  });
  return { n: indices.length, acc: ok / indices.length, logits, preds };
}

/** Accuracy and agreement with plaintext decisions of one execution. */
export interface Agreement {
  readonly n: number;
  readonly acc: number;
  readonly agreement: number;
}

/** `N=… [bits,…]` for a parameter literal. */
export function paramsText(p: { polyModulusDegree: number; coeffModulusBits: readonly number[] }): string {
  return `N=${p.polyModulusDegree} [${p.coeffModulusBits.join(',')}]`;
}

/**
 * Simulated execution of a latency plan (float64 slots with CKKS-sized noise) on `indices`, which
 * must be a prefix of the indices `plain` was computed on.
 */
export function evaluateSimulated(
  model: CnnModel,
  plan: CnnPlan,
  ds: ImageDataset,
  indices: readonly number[],
  plain: PlainResult,
  opts: { seed?: number; onProgress?: Progress } = {},
): Agreement {
  const p = plan.client.params;
  if (p.scaleBits === undefined) {
    throw new NnError('NN_INVALID_ARGUMENT', 'cannot simulate: the plan has no scale');
  }
  const sim = new SimBackend({ ...p, scaleBits: p.scaleBits }, { seed: opts.seed ?? 7 });
  let ok = 0;
  let agree = 0;
  indices.forEach((i, j) => {
    const x = sim.encrypt(packInput(plan.client, modelImage(model, ds, i)), plan.client.input.period);
    const out = sim.decrypt(runStages(sim, plan.server.stages, x));
    const k = argmax(Float64Array.from(plan.client.output.positions, (q) => out[q]));
    if (k === ds.labels[i]) ok++;
    if (k === plain.preds[j]) agree++;
    if ((j + 1) % 500 === 0 || j + 1 === indices.length)
      opts.onProgress?.('simulated', j + 1, indices.length);
  });
  return { n: indices.length, acc: ok / indices.length, agreement: agree / indices.length };
}

/**
 * Running score of decrypted logits against their float64 twin: accuracy on the labels, argmax
 * agreement with the plaintext decisions and the largest |encrypted − float64| logit.
 */
export class LogitScore {
  #n = 0;
  #ok = 0;
  #agree = 0;
  #maxD = 0;
  /** One image: its decrypted logits, the float64 logits, its label and the plaintext decision. */
  add(got: ArrayLike<number>, want: ArrayLike<number>, label: number, plainPred: number): void {
    for (let k = 0; k < want.length; k++) this.#maxD = Math.max(this.#maxD, Math.abs(want[k] - got[k]));
    const k = argmax(got);
    if (k === label) this.#ok++;
    if (k === plainPred) this.#agree++;
    this.#n++;
  }
  result(): Agreement & { readonly maxAbsLogitDelta: number } {
    const n = this.#n;
    return { n, acc: this.#ok / n, agreement: this.#agree / n, maxAbsLogitDelta: this.#maxD };
  }
}

/** Encrypted accuracy, agreement and error of one encrypted execution. */
export interface EncryptedResult extends Agreement {
  readonly mode: 'throughput' | 'latency';
  /** Responses carried output protection (re-randomized, flooded). */
  readonly protected: boolean;
  readonly params: string;
  /** Largest |encrypted − float64| logit over all images and classes. */
  readonly maxAbsLogitDelta: number;
  /** Wall time (client encryption + server + client decryption) divided by n. */
  readonly msPerImage: number;
}

/** Throughput-mode run: batches of up to N/2 images, one per slot. */
export interface ThroughputResult extends EncryptedResult {
  readonly mode: 'throughput';
  readonly batches: number;
  readonly batchSize: number;
  readonly imagesPerSecond: number;
  /**
   * Bytes of one batch's inputs in the seeded form a client uploads (one seeded ciphertext per input
   * feature, about half a full one: c1 is a 64-byte seed).
   */
  readonly batchBytesUp: number;
  /** Bytes of one batch's output ciphertexts as serialized (what the server returns). */
  readonly batchBytesDown: number;
}

/**
 * Throughput mode on `indices` (same order as `plain`): the images are split into the fewest
 * batches of at most N/2, each encrypted as one ciphertext per input feature, run, decrypted.
 */
export async function evaluateThroughput(
  model: CnnModel,
  ds: ImageDataset,
  indices: readonly number[],
  plain: PlainResult,
  opts: { protect?: boolean; maxBatch?: number; onProgress?: Progress } = {},
): Promise<ThroughputResult> {
  const plan: BatchPlan = planBatch(model, { protect: opts.protect ?? true });
  using ctx = await HeContext.create(plan.params.literal);
  using keys = generateKeys(ctx, { relin: true });
  const slots = Math.min(ctx.params.slots, opts.maxBatch ?? Number.POSITIVE_INFINITY);
  const batches = Math.ceil(indices.length / slots);
  const size = Math.ceil(indices.length / batches);
  const score = new LogitScore();
  let bytesUp = 0;
  let bytesDown = 0;
  const t0 = performance.now();
  for (let b = 0; b < batches; b++) {
    const part = indices.slice(b * size, (b + 1) * size);
    const cts = encryptBatch(
      ctx,
      keys,
      plan,
      part.map((i) => modelImage(model, ds, i)),
    );
    let logits: Float64Array[];
    try {
      const outs = runBatch(ctx, keys, plan, cts, { batch: part.length });
      try {
        if (b === 0) {
          // The uncompressed seeded size depends only on the parameters and level, not the values.
          using pt = encodeSlots(ctx, new Float64Array(ctx.params.slots), { period: ctx.params.slots });
          bytesUp = encryptSymmetricSeeded(keys, pt).length * cts.length;
          bytesDown = outs.reduce((a, c) => a + saveCiphertext(c).length, 0);
        }
        logits = decryptBatch(keys, outs, part.length, plan);
      } finally {
        for (const c of outs) c[Symbol.dispose]();
      }
    } finally {
      for (const c of cts) c[Symbol.dispose]();
    }
    part.forEach((i, j) => {
      const at = b * size + j;
      score.add(logits[j], plain.logits[at], ds.labels[i], plain.preds[at]);
    });
    opts.onProgress?.('encrypted (throughput)', Math.min(indices.length, (b + 1) * size), indices.length);
  }
  const ms = performance.now() - t0;
  const n = indices.length;
  return {
    mode: 'throughput',
    protected: plan.protection !== undefined,
    params: paramsText(plan.params.literal),
    ...score.result(),
    msPerImage: ms / n,
    batches,
    batchSize: size,
    imagesPerSecond: (1000 * n) / ms,
    batchBytesUp: bytesUp,
    batchBytesDown: bytesDown,
  };
}

/** Latency-plan run: one image per ciphertext, per-image wall times, wire sizes and key sizes. */
export interface LatencyResult extends EncryptedResult {
  readonly mode: 'latency';
  /** Median per-image ms (client encryption + server inference + client decryption), after one warm-up. */
  readonly medianMs: number;
  readonly imageMs: readonly number[];
  /** One seeded input ciphertext, as the client sends it. */
  readonly bytesUp: number;
  /** One response ciphertext. */
  readonly bytesDown: number;
  readonly galoisKeyBytes: number;
  readonly galoisKeys: number;
  readonly relinKeyBytes: number;
  /** Predicted λ of a protected plan (statistical distance exponent of the flood), if protected. */
  readonly lambda?: number;
}

/**
 * The latency plan (protected by default: the served path) on `indices` (same order as `plain`).
 * One warm-up inference (encodes the weights, as a server does once per model) is not timed.
 */
export async function evaluateLatency(
  model: CnnModel,
  ds: ImageDataset,
  indices: readonly number[],
  plain: PlainResult,
  opts: { protect?: boolean; plan?: CnnPlan; onProgress?: Progress } = {},
): Promise<LatencyResult> {
  if (indices.length < 1) throw new NnError('NN_INVALID_ARGUMENT', 'cannot time the latency plan: no image');
  const plan = opts.plan ?? planCnn(model, { protect: opts.protect ?? true });
  using ctx = await HeContext.create(plan.client.params);
  using keys = generateKeys(ctx, { relin: plan.client.relin, galoisSteps: plan.client.galoisSteps });
  const material = keys.exportPublic();
  using cnn = new EncryptedCnn(ctx, keys, plan.server);
  const first = modelImage(model, ds, indices[0]);
  {
    using ct = encryptInput(ctx, keys, plan.client, first);
    using _warm = cnn.infer(ct);
  }
  const bytesUp = encryptInputSeeded(ctx, keys, plan.client, first).length;
  let bytesDown = 0;
  const score = new LogitScore();
  const times: number[] = [];
  indices.forEach((i, j) => {
    const px = modelImage(model, ds, i);
    const t = performance.now();
    using ct = encryptInput(ctx, keys, plan.client, px);
    using out = cnn.infer(ct);
    const got = decryptOutput(keys, plan.client, out);
    times.push(performance.now() - t);
    if (j === 0) bytesDown = saveCiphertext(out).length;
    score.add(got, plain.logits[j], ds.labels[i], plain.preds[j]);
    if ((j + 1) % 10 === 0 || j + 1 === indices.length)
      opts.onProgress?.('encrypted (latency)', j + 1, indices.length);
  });
  const medianMs = median(times);
  const n = indices.length;
  const protection = plan.client.protection;
  return {
    mode: 'latency',
    protected: protection !== undefined,
    params: paramsText(plan.client.params),
    ...score.result(),
    msPerImage: times.reduce((a, b) => a + b, 0) / n,
    medianMs,
    imageMs: times,
    bytesUp,
    bytesDown,
    galoisKeyBytes: material.galoisKeys?.length ?? 0,
    galoisKeys: plan.client.galoisSteps.length,
    relinKeyBytes: material.relinKeys?.length ?? 0,
    ...(protection !== undefined ? { lambda: protection.lambda } : {}),
  };
}

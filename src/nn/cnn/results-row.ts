import type { ImageDataset } from '../data/dataset.ts';
import { NnError } from '../errors.ts';
import type { CnnModel } from './ir.ts';
import type { CnnPlan } from './plan.ts';
import { planCnn } from './planner.ts';
import {
  type EncryptedResult,
  evaluateLatency,
  evaluatePlain,
  evaluateSimulated,
  evaluateThroughput,
  type LatencyResult,
  type PlainResult,
  type Progress,
  seededSubset,
  type ThroughputResult,
} from './results-eval.ts';
import type { ResultRow } from './results-report.ts';

/** How to measure one row. */
export interface MeasureOptions {
  /** Test images: absent or ≥ the split size = the full split, else a seeded subset of n. */
  readonly n?: number;
  readonly seed?: number;
  /** Simulated execution on a seeded subset of simN of the n images (default all n; 0 = skip). */
  readonly simN?: number;
  /**
   * Encrypted execution on a seeded subset of encN of the n images (default all n), for nets whose
   * encrypted run on all n would take hours; plaintext still runs on all n.
   */
  readonly encN?: number;
  /**
   * Encrypted accuracy: `throughput` (default; one image per slot, batches of ≤ N/2) or `latency`
   * (the latency plan, one image per ciphertext, on all n — slow for large n).
   */
  readonly mode?: 'throughput' | 'latency';
  /**
   * Single images timed in the latency plan (median reported; default 5). Ignored in latency mode,
   * unless `encryptedLatencyPass` is given (then the first this many of the encrypted subset).
   */
  readonly latencyImages?: number;
  /** Output protection in both the throughput and the latency plan (the served path; default true). */
  readonly protect?: boolean;
  /** Largest throughput batch (default N/2, the slot count). */
  readonly maxBatch?: number;
  readonly onProgress?: Progress;
  /**
   * Latency mode only: runs the encrypted accuracy pass some other way (e.g. several images in
   * flight on a worker pool, `node/latency-parallel.ts`); the single-image latency is then timed
   * alone on the first `latencyImages` of the encrypted subset, so it is not inflated by the pool.
   */
  readonly encryptedLatencyPass?: (
    model: CnnModel,
    ds: ImageDataset,
    indices: readonly number[],
    plain: PlainResult,
    plan: CnnPlan,
    onProgress?: Progress,
  ) => Promise<EncryptedResult>;
  /** Free-text log lines (phase results). */
  readonly log?: (line: string) => void;
}

/**
 * Measures one results row: plaintext, simulated and encrypted accuracy on the chosen test images,
 * plus the single-image latency, wire sizes and key sizes of the latency plan.
 */
export async function measureRow(
  model: CnnModel,
  ds: ImageDataset,
  info: { dataset: string; model: string; split: string },
  opts: MeasureOptions = {},
): Promise<ResultRow> {
  const t0 = performance.now();
  const seed = opts.seed ?? 1;
  const indices = seededSubset(ds.n, opts.n ?? ds.n, seed);
  const n = indices.length;
  const mode = opts.mode ?? 'throughput';
  const latencyImages = opts.latencyImages ?? 5;
  if (!(Number.isInteger(latencyImages) && latencyImages > 0)) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot measure: latencyImages must be ≥ 1, got ${latencyImages}`,
    );
  }
  const log = opts.log ?? (() => {});
  const plain = evaluatePlain(model, ds, indices, opts.onProgress);
  log(`plaintext ${(100 * plain.acc).toFixed(2)}% on ${n}`);
  const plan = planCnn(model, { protect: opts.protect ?? true });
  // Simulated on all n, or on a seeded subset of simN of them (positions into `indices`).
  const simN = Math.min(n, opts.simN ?? n);
  const pos = simN === 0 ? [] : simN < n ? seededSubset(n, simN, seed) : indices.map((_, j) => j);
  const simPlain = { n: simN, acc: 0, logits: [], preds: pos.map((j) => plain.preds[j]) };
  const sim =
    simN > 0
      ? evaluateSimulated(
          model,
          plan,
          ds,
          pos.map((j) => indices[j]),
          simPlain,
          { ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) },
        )
      : { n: 0, acc: Number.NaN, agreement: Number.NaN };
  if (simN > 0)
    log(
      `simulated ${(100 * sim.acc).toFixed(2)}% on ${simN}, agreement ${(100 * sim.agreement).toFixed(2)}%`,
    );
  // Encrypted on all n, or on a seeded subset of encN of them (the same shuffle: a prefix).
  const encN = Math.min(n, opts.encN ?? n);
  const encPos = encN < n ? seededSubset(n, encN, seed) : indices.map((_, j) => j);
  const encIdx = encPos.map((j) => indices[j]);
  const encPlain = {
    n: encN,
    acc: encPos.filter((j) => plain.preds[j] === ds.labels[indices[j]]).length / encN,
    logits: encPos.map((j) => plain.logits[j]),
    preds: encPos.map((j) => plain.preds[j]),
  };
  // Encrypted accuracy: throughput batches, a latency pass given by the caller (e.g. on a worker
  // pool), or the single-process latency loop, whose per-image times are then the latency too.
  let enc: EncryptedResult;
  let lat: LatencyResult | undefined;
  if (mode === 'throughput') {
    enc = await evaluateThroughput(model, ds, encIdx, encPlain, {
      protect: opts.protect ?? true,
      ...(opts.maxBatch !== undefined ? { maxBatch: opts.maxBatch } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
  } else if (opts.encryptedLatencyPass !== undefined) {
    enc = await opts.encryptedLatencyPass(model, ds, encIdx, encPlain, plan, opts.onProgress);
  } else {
    lat = await evaluateLatency(model, ds, encIdx, encPlain, { plan, onProgress: opts.onProgress });
    enc = lat;
  }
  if (lat === undefined) {
    log(
      `encrypted (${enc.mode === 'throughput' ? 'throughput' : 'latency plan'}, ${enc.protected ? 'protected' : 'unprotected'}) ${(100 * enc.acc).toFixed(2)}%, agreement ${(100 * enc.agreement).toFixed(2)}%, ${enc.msPerImage.toFixed(1)} ms/image`,
    );
    // Single-image latency, timed alone on the first images of the encrypted subset.
    const k = Math.min(encN, latencyImages);
    const first = {
      ...encPlain,
      n: k,
      logits: encPlain.logits.slice(0, k),
      preds: encPlain.preds.slice(0, k),
    };
    lat = await evaluateLatency(model, ds, encIdx.slice(0, k), first, { plan, onProgress: opts.onProgress });
  }
  log(
    `latency (${lat.protected ? 'protected' : 'unprotected'}) median ${lat.medianMs.toFixed(0)} ms over ${lat.n} images`,
  );
  const tp = enc.mode === 'throughput' ? (enc as ThroughputResult) : undefined;
  return {
    dataset: info.dataset,
    model: info.model,
    split: info.split,
    n,
    testSize: ds.n,
    seed,
    plainAcc: plain.acc,
    simN: sim.n,
    simAcc: sim.acc,
    simAgreement: sim.agreement,
    encN,
    plainAccOnEnc: encPlain.acc,
    encAcc: enc.acc,
    agreement: enc.agreement,
    maxAbsLogitDelta: enc.maxAbsLogitDelta,
    encMode: enc.mode,
    encProtected: enc.protected,
    encParams: enc.params,
    encMsPerImage: enc.msPerImage,
    ...(tp
      ? {
          encBatches: tp.batches,
          encBatchSize: tp.batchSize,
          encBatchBytesUp: tp.batchBytesUp,
          encBatchBytesUpSeeded: true,
          encBatchBytesDown: tp.batchBytesDown,
        }
      : {}),
    ...latencyFields(lat),
    measuredAt: new Date().toISOString(),
    wallSeconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
  };
}

/** The latency part of a row, from a latency-plan run. */
function latencyFields(lat: LatencyResult) {
  return {
    msPerImage: lat.medianMs,
    latencyImages: lat.n,
    latencyImageMs: lat.imageMs,
    latencyProtected: lat.protected,
    latencyParams: lat.params,
    latencyAgreement: lat.agreement,
    latencyMaxAbsLogitDelta: lat.maxAbsLogitDelta,
    bytesUp: lat.bytesUp,
    bytesDown: lat.bytesDown,
    galoisKeys: lat.galoisKeys,
    galoisKeyBytes: lat.galoisKeyBytes,
    relinKeyBytes: lat.relinKeyBytes,
    ...(lat.lambda !== undefined ? { lambda: lat.lambda } : {}),
  };
}

/**
 * Re-times a kept row's single-image latency (same images: the first k of its subset) without
 * re-running the accuracy passes, e.g. on a quieter machine. Returns the updated row.
 */
export async function remeasureLatency(
  model: CnnModel,
  ds: ImageDataset,
  row: ResultRow,
  opts: { latencyImages?: number; protect?: boolean } = {},
): Promise<ResultRow> {
  const k = Math.min(row.n, opts.latencyImages ?? row.latencyImages);
  const indices = seededSubset(ds.n, row.n, row.seed).slice(0, k);
  const plain = evaluatePlain(model, ds, indices);
  const lat = await evaluateLatency(model, ds, indices, plain, { protect: opts.protect ?? true });
  return { ...row, ...latencyFields(lat), latencyMeasuredAt: new Date().toISOString() };
}

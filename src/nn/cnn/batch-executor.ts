import type { HeContext } from '../../he/context.ts';
import { decrypt, encryptSymmetric } from '../../he/crypt.ts';
import { decodeSlots, encodeSlots } from '../../he/encoder.ts';
import { Evaluator } from '../../he/evaluator.ts';
import type { Ciphertext, Plaintext } from '../../he/handles.ts';
import type { EvaluationKeys, KeySet } from '../../he/keys.ts';
import { NnError } from '../errors.ts';
import { type AffineMap, affineOf, isAffineLayer } from './affine.ts';
import { foldBatchNorm } from './fold-batchnorm.ts';
import { type CnnModel, modelShapes, shapeSize } from './ir.ts';
import { chooseCnnParameters } from './parameters.ts';
import { preprocessImage } from './reference.ts';

/**
 * Throughput mode: one image per slot, one ciphertext per feature (CryptoNets-style SIMD).
 *
 * ```
 * ciphertext j (feature j):  slot b = image b's feature j,  b = 0 … batch−1  (≤ N/2 images)
 * ```
 *
 * Every linear map becomes scalar products and additions across ciphertexts — no rotation, so no
 * Galois keys at all — and every activation one square per feature. Latency per batch is long
 * (seconds to minutes) but the cost is shared by up to N/2 images.
 */
export type BatchStage =
  | { readonly kind: 'affine'; readonly map: AffineMap }
  | { readonly kind: 'square'; readonly shift: number }
  | { readonly kind: 'scale'; readonly a: number; readonly b: number };

/** A throughput-mode plan: stages plus the parameters (same depth rule as the latency planner). */
export interface BatchPlan {
  readonly model: CnnModel;
  readonly stages: readonly BatchStage[];
  readonly depth: number;
  readonly params: ReturnType<typeof chooseCnnParameters>;
  readonly inputs: number;
  readonly outputs: number;
}

/** Plans throughput mode: fused affine runs, degree-2 activations as one square with folded a·u+b. */
export function planBatch(input: CnnModel): BatchPlan {
  const model = foldBatchNorm(input);
  const shapes = modelShapes(model);
  const stages: BatchStage[] = [];
  let run: { start: number; end: number } | undefined;
  let pending: { a: number; b: number } | undefined;
  const flush = () => {
    if (!run) return;
    let map = affineOf(model.layers.slice(run.start, run.end), shapes[run.start]);
    if (pending) {
      const { a, b } = pending;
      const matrix = map.matrix.map((w) => a * w);
      const bias = Float64Array.from(map.bias, (v, i) => {
        let s = 0;
        for (let j = 0; j < map.n; j++) s += map.matrix[i * map.n + j];
        return v + b * s;
      });
      map = { ...map, matrix, bias };
      pending = undefined;
    }
    stages.push({ kind: 'affine', map });
    run = undefined;
  };
  model.layers.forEach((l, i) => {
    if (isAffineLayer(l)) {
      run = run ? { start: run.start, end: i + 1 } : { start: i, end: i + 1 };
      return;
    }
    flush();
    if (l.op !== 'poly' || l.coeffs.length > 3) {
      throw new NnError(
        'NN_INVALID_ARGUMENT',
        `cannot plan throughput mode: layer ${i} (${l.op}) is not supported`,
      );
    }
    if (pending) stages.push({ kind: 'scale', ...pending });
    const [c0 = 0, c1 = 0, c2 = 0] = l.coeffs;
    const beta = c1 / (2 * c2);
    stages.push({ kind: 'square', shift: beta });
    pending = { a: c2, b: c0 - c2 * beta * beta };
  });
  flush();
  if (pending && (pending.a !== 1 || pending.b !== 0)) stages.push({ kind: 'scale', ...pending });
  const depth = stages.length;
  return {
    model,
    stages,
    depth,
    params: chooseCnnParameters({ depth, slots: 1 }),
    inputs: shapeSize(model.inputShape),
    outputs: shapeSize(shapes.at(-1)!),
  };
}

/**
 * Client: preprocess a batch of raw images and encrypt one ciphertext per input feature.
 * Returns the ciphertexts (caller disposes).
 */
export function encryptBatch(
  ctx: HeContext,
  keys: KeySet,
  plan: BatchPlan,
  images: readonly ArrayLike<number>[],
): Ciphertext[] {
  const slots = ctx.params.slots;
  if (images.length < 1 || images.length > slots) {
    throw new NnError('NN_INVALID_ARGUMENT', `cannot encrypt batch: ${images.length} images, 1…${slots} fit`);
  }
  const x = images.map((px) => preprocessImage(plan.model, px));
  const out: Ciphertext[] = [];
  const v = new Float64Array(slots);
  for (let j = 0; j < plan.inputs; j++) {
    for (let b = 0; b < x.length; b++) v[b] = x[b][j];
    using pt = encodeSlots(ctx, v, { period: slots });
    out.push(encryptSymmetric(keys, pt));
  }
  return out;
}

/** Client: decrypt the output ciphertexts into per-image logits. */
export function decryptBatch(keys: KeySet, outs: readonly Ciphertext[], batch: number): Float64Array[] {
  const cols = outs.map((ct) => {
    using pt = decrypt(keys, ct);
    return decodeSlots(pt, batch);
  });
  return Array.from({ length: batch }, (_, b) => Float64Array.from(cols, (c) => c[b]));
}

/**
 * Server: runs a throughput plan. Scalar plaintexts are encoded once per (value, level) and cached;
 * products use the exact-scale rule (plaintext scale = the level's last prime). Returns the output
 * ciphertexts (caller disposes); the inputs are not consumed.
 */
export function runBatch(
  ctx: HeContext,
  keys: EvaluationKeys,
  plan: BatchPlan,
  inputs: readonly Ciphertext[],
): Ciphertext[] {
  const ev = new Evaluator(ctx, keys);
  // Scalar plaintexts are full-size polynomials (N·primes·8 bytes each): a 256×64 dense layer has
  // 16k distinct weights, ~4 GB if all were kept. Cache per stage only values used more than once
  // (convolution weights repeat per window); encode single-use values on the fly.
  let cache = new Map<string, Plaintext>();
  let reused = new Set<number>();
  const withConstant = <R>(v: number, level: number, scale: number, f: (p: Plaintext) => R): R => {
    const k = `${v}@${level}@${scale}`;
    const hit = cache.get(k);
    if (hit) return f(hit);
    const p = encodeSlots(ctx, [v], { level, scale, period: 1 });
    if (!reused.has(v)) {
      try {
        return f(p);
      } finally {
        p[Symbol.dispose]();
      }
    }
    cache.set(k, p);
    return f(p);
  };
  const clearCache = () => {
    for (const p of cache.values()) p[Symbol.dispose]();
    cache = new Map();
  };
  let xs: Ciphertext[] = [...inputs];
  let owned = false;
  try {
    for (const st of plan.stages) {
      const next: Ciphertext[] = [];
      clearCache();
      // Activation constants are the same for every feature: keep them.
      reused = new Set<number>(st.kind === 'square' ? [st.shift] : st.kind === 'scale' ? [st.a, st.b] : []);
      if (st.kind === 'affine') {
        const { map } = st;
        const seen = new Set<number>();
        for (const w of map.matrix) {
          if (w === 0) continue;
          if (seen.has(w)) reused.add(w);
          else seen.add(w);
        }
        const level = xs[0].level;
        const q = Number(ctx.level(level).primes.at(-1)!);
        for (let i = 0; i < map.m; i++) {
          let acc: Ciphertext | undefined;
          for (let j = 0; j < map.n; j++) {
            const w = map.matrix[i * map.n + j];
            if (w === 0) continue;
            const p = withConstant(w, level, q, (pt) => ev.multiplyPlain(xs[j], pt));
            if (acc) {
              const s = ev.add(acc, p);
              acc[Symbol.dispose]();
              p[Symbol.dispose]();
              acc = s;
            } else acc = p;
          }
          if (!acc)
            throw new NnError('NN_INVALID_ARGUMENT', `cannot run throughput plan: output ${i} has no inputs`);
          using r = ev.rescale(acc);
          acc[Symbol.dispose]();
          next.push(withConstant(map.bias[i], r.level, r.scale, (pt) => ev.addPlain(r, pt)));
        }
      } else if (st.kind === 'square') {
        for (const x of xs) {
          using u =
            st.shift !== 0 ? withConstant(st.shift, x.level, x.scale, (pt) => ev.addPlain(x, pt)) : x.clone();
          using sq = ev.square(u);
          using rl = ev.relinearize(sq);
          next.push(ev.rescale(rl));
        }
      } else {
        for (const x of xs) {
          const q = Number(ctx.level(x.level).primes.at(-1)!);
          using p = withConstant(st.a, x.level, q, (pt) => ev.multiplyPlain(x, pt));
          using r = ev.rescale(p);
          next.push(withConstant(st.b, r.level, r.scale, (pt) => ev.addPlain(r, pt)));
        }
      }
      if (owned) for (const x of xs) x[Symbol.dispose]();
      xs = next;
      owned = true;
    }
    return xs;
  } finally {
    clearCache();
  }
}

import type { HeContext } from '../../he/context.ts';
import { decrypt, encryptSymmetric } from '../../he/crypt.ts';
import { decodeSlots, encodeSlots } from '../../he/encoder.ts';
import { Evaluator } from '../../he/evaluator.ts';
import type { Ciphertext, Plaintext } from '../../he/handles.ts';
import type { EvaluationKeys, KeySet } from '../../he/keys.ts';
import type { Layout } from '../../he/layout.ts';
import { NnError } from '../errors.ts';
import { type AffineMap, affineOf, isAffineLayer } from './affine.ts';
import {
  checkAnnouncedShape,
  createResponseMask,
  outputProtection,
  protectResponse,
} from './batch-protection.ts';
import { foldBatchNorm } from './fold-batchnorm.ts';
import { type CnnModel, modelShapes, shapeSize } from './ir.ts';
import { chooseCnnParameters } from './parameters.ts';
import type { OutputProtection } from './plan.ts';
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
 *
 * Protected by default, like the latency plan: each of the K output ciphertexts carries the
 * batch's logits in slots 0…batch−1 and only rounding noise elsewhere (a 0/1 mask over the batch
 * slots, folded into the last stage's plaintext products), lands on the announced level and scale
 * 2^scaleBits, and is re-randomized and flooded (see `batch-protection.ts`).
 */
export type BatchStage =
  | { readonly kind: 'affine'; readonly map: AffineMap }
  | { readonly kind: 'square'; readonly shift: number }
  | { readonly kind: 'scale'; readonly a: number; readonly b: number }
  /** Protected plans ending in a square: × the 0/1 batch mask, landing on the output scale. */
  | { readonly kind: 'extract' };

/** A throughput-mode plan: stages plus the parameters (same depth rule as the latency planner). */
export interface BatchPlan {
  readonly model: CnnModel;
  readonly stages: readonly BatchStage[];
  readonly depth: number;
  readonly params: ReturnType<typeof chooseCnnParameters>;
  readonly inputs: number;
  readonly outputs: number;
  /** How every output ciphertext is protected; absent only with `{ protect: false }`. */
  readonly protection?: OutputProtection;
}

/** Throughput planner options. */
export interface BatchPlanOptions {
  /**
   * Protect every response (default true, what a served plan must use): unused slots zeroed,
   * constant level and scale, re-randomized and flooded. `false` only for benchmarks and tests that
   * compare against the unprotected program.
   */
  readonly protect?: boolean;
}

/**
 * Plans throughput mode: fused affine runs, degree-2 activations as one square with folded a·u+b.
 * Protected plans take their parameters from the same chooser as the latency plan
 * (`chooseCnnParameters({ protect: true })`: [60, s×depth, 60], a 60-bit output prime). The batch
 * mask and the move to the output scale ride on the last stage's plaintext products when it is
 * affine (always, for a classifier ending in a dense layer): no extra level. A network ending in a
 * square gets one `extract` stage (one level), as the latency plan does.
 */
export function planBatch(input: CnnModel, opts: BatchPlanOptions = {}): BatchPlan {
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
  const protect = opts.protect !== false;
  const lastKind = stages.at(-1)?.kind;
  if (protect && lastKind !== 'affine' && lastKind !== 'scale') stages.push({ kind: 'extract' });
  const depth = stages.length;
  const params = chooseCnnParameters({ depth, slots: 1, ...(protect ? { protect: true } : {}) });
  return {
    model,
    stages,
    depth,
    params,
    inputs: shapeSize(model.inputShape),
    outputs: shapeSize(shapes.at(-1)!),
    ...(protect ? { protection: outputProtection(params.literal, depth) } : {}),
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

/**
 * Client: decrypt the output ciphertexts into per-image logits. Given the plan, a protected plan's
 * responses must be exactly K ciphertexts at the announced level, scale and size 2.
 */
export function decryptBatch(
  keys: KeySet,
  outs: readonly Ciphertext[],
  batch: number,
  plan?: BatchPlan,
): Float64Array[] {
  const p = plan?.protection;
  if (plan !== undefined && outs.length !== plan.outputs) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot decrypt batch: ${outs.length} output ciphertexts, the plan has ${plan.outputs}`,
    );
  }
  if (p !== undefined) for (const ct of outs) checkAnnouncedShape(p, ct, 'cannot decrypt batch: response');
  const cols = outs.map((ct) => {
    using pt = decrypt(keys, ct);
    return decodeSlots(pt, batch);
  });
  return Array.from({ length: batch }, (_, b) => Float64Array.from(cols, (c) => c[b]));
}

/** Server options for {@link runBatch}. */
export interface RunBatchOptions {
  /**
   * Images in the batch: slots 0…batch−1 (default all N/2 slots). A protected plan zeroes every
   * other slot, so a response carries the logits of the images the server answered and nothing
   * else. Public metadata (the server charges for it).
   */
  readonly batch?: number;
  /**
   * Precomputed protection masks ({@link createBatchMasks}), one per output ciphertext; consumed
   * (disposed) whatever happens. Default: fresh masks made here.
   */
  readonly masks?: readonly Ciphertext[];
}

/** Layout of throughput-mode ciphertexts (one value per slot). */
function batchLayout(ctx: HeContext): Layout {
  return { kind: 'slots', length: ctx.params.slots, period: ctx.params.slots };
}

/**
 * Server, ahead of time: the K protection masks one response of a protected plan needs (fresh
 * public-key encryptions of a Gaussian flood; query-independent). Single use: pass them to one
 * {@link runBatch} call. Caller disposes what it does not pass on.
 */
export function createBatchMasks(ctx: HeContext, keys: EvaluationKeys, plan: BatchPlan): Ciphertext[] {
  const p = plan.protection;
  if (p === undefined)
    throw new NnError('NN_INVALID_ARGUMENT', 'cannot create batch masks: the plan is not protected');
  const out: Ciphertext[] = [];
  try {
    for (let k = 0; k < plan.outputs; k++) out.push(createResponseMask(keys, p, batchLayout(ctx)));
  } catch (e) {
    for (const m of out) m[Symbol.dispose]();
    throw e;
  }
  return out;
}

/**
 * Server: runs a throughput plan. Scalar plaintexts are encoded once per (value, level) and cached;
 * products use the exact-scale rule (plaintext scale = the level's last prime). Returns the output
 * ciphertexts (caller disposes); the inputs are not consumed. A protected plan's outputs are
 * re-randomized and flooded (`opts.masks` or fresh masks) and have the announced level and scale.
 */
export function runBatch(
  ctx: HeContext,
  keys: EvaluationKeys,
  plan: BatchPlan,
  inputs: readonly Ciphertext[],
  opts: RunBatchOptions = {},
): Ciphertext[] {
  const p = plan.protection;
  const masks = [...(opts.masks ?? [])];
  const done = new Set<number>();
  try {
    if (masks.length > 0 && (p === undefined || masks.length !== plan.outputs)) {
      throw new NnError(
        'NN_INVALID_ARGUMENT',
        `cannot run throughput plan: ${masks.length} masks, the plan needs ${p === undefined ? 0 : plan.outputs}`,
      );
    }
    // Checked before the (long) program runs; protectResponse checks each mask's shape again.
    if (masks.some((m) => m.disposed)) {
      throw new NnError(
        'NN_INVALID_ARGUMENT',
        'cannot run throughput plan: a mask was already used (masks are single-use)',
      );
    }
    const outs = _runBatchStages(ctx, keys, plan, inputs, opts.batch);
    if (p === undefined) return outs;
    const ev = new Evaluator(ctx, keys);
    const protectedOuts: Ciphertext[] = [];
    try {
      outs.forEach((o, k) => {
        done.add(k);
        protectedOuts.push(protectResponse(ev, keys, p, o, masks[k]));
      });
      return protectedOuts;
    } catch (e) {
      for (const c of protectedOuts) c[Symbol.dispose]();
      throw e;
    } finally {
      for (const o of outs) o[Symbol.dispose]();
    }
  } finally {
    masks.forEach((m, k) => {
      if (!done.has(k)) m[Symbol.dispose]();
    });
  }
}

/**
 * @internal The plan's stages without the final re-randomize + flood: for a protected plan, the
 * batch-masked outputs at the announced level and scale (tests and benches measure the pre-flood
 * error on them). Never return these to a client.
 */
export function _runBatchStages(
  ctx: HeContext,
  keys: EvaluationKeys,
  plan: BatchPlan,
  inputs: readonly Ciphertext[],
  batch: number = ctx.params.slots,
): Ciphertext[] {
  const slots = ctx.params.slots;
  if (!Number.isInteger(batch) || batch < 1 || batch > slots) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot run throughput plan: "batch" expected an integer in [1, ${slots}], got ${batch}`,
    );
  }
  if (inputs.length !== plan.inputs) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot run throughput plan: ${inputs.length} input ciphertexts, the plan has ${plan.inputs} features`,
    );
  }
  const ev = new Evaluator(ctx, keys);
  const p = plan.protection;
  // Protected: the last stage multiplies by value·mask (mask = 1 on slots 0…batch−1, 0 elsewhere)
  // encoded at q·2^scaleBits/x.scale, so its rescale lands on the output scale and the unused slots
  // keep only rounding noise; its additive constants are value·mask too.
  const outScale = p === undefined ? 0 : 2 ** p.scaleBits;
  // Scalar plaintexts are full-size polynomials (N·primes·8 bytes each): a 256×64 dense layer has
  // 16k distinct weights, ~4 GB if all were kept. Cache per stage only values used more than once
  // (convolution weights repeat per window); encode single-use values on the fly.
  let cache = new Map<string, Plaintext>();
  let reused = new Set<number>();
  let masked = false;
  const maskValues = (v: number) => {
    const out = new Float64Array(slots);
    out.fill(v, 0, batch);
    return out;
  };
  const withConstant = <R>(v: number, level: number, scale: number, f: (p: Plaintext) => R): R => {
    // A full batch needs no mask: the constant is the same plaintext.
    const m = masked && batch < slots;
    const k = `${v}@${level}@${scale}${m ? '@mask' : ''}`;
    const hit = cache.get(k);
    if (hit) return f(hit);
    const pt = m
      ? encodeSlots(ctx, maskValues(v), { level, scale, period: slots })
      : encodeSlots(ctx, [v], { level, scale, period: 1 });
    if (!reused.has(v)) {
      try {
        return f(pt);
      } finally {
        pt[Symbol.dispose]();
      }
    }
    cache.set(k, pt);
    return f(pt);
  };
  const clearCache = () => {
    for (const pt of cache.values()) pt[Symbol.dispose]();
    cache = new Map();
  };
  // Plaintext scale of a product: exact-scale (the level's last prime q), or landing on outScale.
  const productScale = (x: Ciphertext) => {
    const q = Number(ctx.level(x.level).primes.at(-1)!);
    return masked ? (q * outScale) / x.scale : q;
  };
  let xs: Ciphertext[] = [...inputs];
  let owned = false;
  try {
    plan.stages.forEach((st, si) => {
      const next: Ciphertext[] = [];
      clearCache();
      masked = p !== undefined && si === plan.stages.length - 1;
      // Activation constants are the same for every feature: keep them.
      reused = new Set<number>(
        st.kind === 'square'
          ? [st.shift]
          : st.kind === 'scale'
            ? [st.a, st.b]
            : st.kind === 'extract'
              ? [1]
              : [],
      );
      try {
        if (st.kind === 'affine') {
          const { map } = st;
          const seen = new Set<number>();
          for (const w of map.matrix) {
            if (w === 0) continue;
            if (seen.has(w)) reused.add(w);
            else seen.add(w);
          }
          const level = xs[0].level;
          const ps = productScale(xs[0]);
          for (let i = 0; i < map.m; i++) {
            let acc: Ciphertext | undefined;
            for (let j = 0; j < map.n; j++) {
              const w = map.matrix[i * map.n + j];
              if (w === 0) continue;
              const prod = withConstant(w, level, ps, (pt) => ev.multiplyPlain(xs[j], pt));
              if (acc) {
                const s = ev.add(acc, prod);
                acc[Symbol.dispose]();
                prod[Symbol.dispose]();
                acc = s;
              } else acc = prod;
            }
            if (!acc)
              throw new NnError(
                'NN_INVALID_ARGUMENT',
                `cannot run throughput plan: output ${i} has no inputs`,
              );
            using r = ev.rescale(acc);
            acc[Symbol.dispose]();
            next.push(withConstant(map.bias[i], r.level, r.scale, (pt) => ev.addPlain(r, pt)));
          }
        } else if (st.kind === 'square') {
          for (const x of xs) {
            using u =
              st.shift !== 0
                ? withConstant(st.shift, x.level, x.scale, (pt) => ev.addPlain(x, pt))
                : x.clone();
            using sq = ev.square(u);
            using rl = ev.relinearize(sq);
            next.push(ev.rescale(rl));
          }
        } else if (st.kind === 'scale') {
          for (const x of xs) {
            using prod = withConstant(st.a, x.level, productScale(x), (pt) => ev.multiplyPlain(x, pt));
            using r = ev.rescale(prod);
            next.push(withConstant(st.b, r.level, r.scale, (pt) => ev.addPlain(r, pt)));
          }
        } else {
          for (const x of xs) {
            using prod = withConstant(1, x.level, productScale(x), (pt) => ev.multiplyPlain(x, pt));
            next.push(ev.rescale(prod));
          }
        }
      } catch (e) {
        for (const c of next) c[Symbol.dispose]();
        throw e;
      }
      if (owned) for (const x of xs) x[Symbol.dispose]();
      xs = next;
      owned = true;
    });
    return xs;
  } finally {
    clearCache();
  }
}

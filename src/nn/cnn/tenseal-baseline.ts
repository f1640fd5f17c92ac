import type { HeContext } from '../../he/context.ts';
import { Evaluator } from '../../he/evaluator.ts';
import type { Ciphertext } from '../../he/handles.ts';
import type { EvaluationKeys } from '../../he/keys.ts';
import type { ParametersLiteral } from '../../he/params.ts';
import { NnError } from '../errors.ts';
import { HeBackend } from './he-backend.ts';
import type { CnnModel } from './ir.ts';
import type { ClientPlan, InputLayout } from './plan.ts';

/**
 * TenSEAL's MNIST tutorial parameters: N = 8192, [31, 26×6, 31], scale 2^26 — six levels because
 * TenSEAL's channel packing costs one more than the network's five multiplications.
 */
export const TENSEAL_PARAMS: ParametersLiteral = Object.freeze({
  scheme: 'ckks',
  polyModulusDegree: 8192,
  coeffModulusBits: Object.freeze([31, 26, 26, 26, 26, 26, 26, 31]),
  scaleBits: 26,
});

/**
 * Galois steps of SEAL's default `create_galois_keys()` (what TenSEAL's `generate_galois_keys()`
 * makes): ±2^i for every i < log2(slots); +slots/2 and −slots/2 are the same element.
 */
export function powerOfTwoSteps(slots: number): number[] {
  const steps: number[] = [];
  for (let s = 1; s < slots; s *= 2) {
    steps.push(s);
    if (s !== slots / 2) steps.push(-s);
  }
  return steps.sort((a, b) => a - b);
}

/**
 * Non-adjacent form of a rotation step: SEAL rotates by a step it has no key for by applying the
 * NAF terms one key switch each, which is what TenSEAL's `rotate_vector_inplace(ct, i)` costs with
 * power-of-two keys.
 */
export function naf(value: number): number[] {
  const out: number[] = [];
  let v = Math.abs(value);
  const sign = Math.sign(value);
  let bit = 1;
  while (v > 0) {
    if (v & 1) {
      const z = 2 - (v & 3);
      out.push(sign * z * bit);
      v -= z;
    }
    v >>= 1;
    bit *= 2;
  }
  return out;
}

type TensealNet = { conv: Extract<CnnModel['layers'][number], { op: 'conv2d' }>; fc1: Dense; fc2: Dense };
type Dense = Extract<CnnModel['layers'][number], { op: 'dense' }>;

function tensealNet(model: CnnModel): TensealNet {
  const [conv, sq1, flat, fc1, sq2, fc2] = model.layers;
  const isSq = (l: CnnModel['layers'][number] | undefined) => l?.op === 'poly' && l.coeffs.join() === '0,0,1';
  if (
    model.layers.length !== 6 ||
    conv.op !== 'conv2d' ||
    conv.inChannels !== 1 ||
    !isSq(sq1) ||
    flat.op !== 'flatten' ||
    fc1.op !== 'dense' ||
    !isSq(sq2) ||
    fc2.op !== 'dense'
  ) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      'cannot build the TenSEAL baseline: expected conv(1→C) → x² → flatten → dense → x² → dense',
    );
  }
  return { conv, fc1, fc2 };
}

/**
 * The client side of the baseline: TenSEAL's `im2col_encoding` layout (kernel element k of window w
 * at slot k·W + w, K padded to a power of two), TenSEAL parameters and power-of-two keys.
 */
export function tensealClientPlan(model: CnnModel): ClientPlan {
  const { conv } = tensealNet(model);
  const [, h, w] = model.inputShape;
  const oh = Math.floor((h - conv.kernel[0]) / conv.stride[0]) + 1;
  const ow = Math.floor((w - conv.kernel[1]) / conv.stride[1]) + 1;
  const windows = oh * ow;
  const kBlocks = 2 ** Math.ceil(Math.log2(conv.kernel[0] * conv.kernel[1]));
  if ((windows & (windows - 1)) !== 0 || kBlocks * windows !== TENSEAL_PARAMS.polyModulusDegree / 2) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      'cannot build the TenSEAL baseline: im2col must fill the 4096 slots exactly',
    );
  }
  const input: InputLayout = {
    kind: 'im2col',
    shape: [1, h, w],
    kernel: conv.kernel,
    stride: conv.stride,
    padding: conv.padding,
    windowBlock: windows,
    kBlocks,
    period: kBlocks * windows,
  };
  return {
    format: 'blinddx-cnn-client',
    version: 1,
    model: `${model.name} (TenSEAL packing)`,
    params: TENSEAL_PARAMS,
    ...(model.preprocessing ? { preprocessing: model.preprocessing } : {}),
    input,
    output: {
      period: TENSEAL_PARAMS.polyModulusDegree / 2,
      positions: Array.from({ length: tensealNet(model).fc2.outFeatures }, (_, i) => i),
    },
    galoisSteps: powerOfTwoSteps(TENSEAL_PARAMS.polyModulusDegree / 2),
    relin: true,
  };
}

/**
 * The TenSEAL MNIST tutorial's server computation, op for op, on BlindDx's `he` layer:
 *
 * 1. per output channel: `conv2d_im2col` = one product with the kernel (each element repeated
 *    over the W windows) and log2(K) rotate-and-adds, + bias;
 * 2. `pack_vectors` of the C channel vectors into one of C·W — modelled as one mask product per
 *    channel (the mask repeated with period C·W) and additions, the cheapest way to do it (one
 *    level, no rotation);
 * 3. x²; `mm(fc1)` = TenSEAL's `diagonal_ct_vector_matmul`: for every i < n, product with the i-th
 *    generalized diagonal and a rotation by i, which SEAL performs with power-of-two keys as
 *    NAF(i) key switches; + bias; x²; `mm(fc2)` likewise; + bias.
 *
 * Deliberately generous to the baseline: every plaintext is encoded once and cached (TenSEAL
 * re-encodes diagonals on every call) and products use the exact-scale rule.
 */
export class TensealBaseline {
  readonly #be: HeBackend;
  readonly #net: TensealNet;
  readonly #slots: number;
  readonly #windows: number;
  readonly #kBlocks: number;
  /** Key switches performed (rotations after NAF decomposition). */
  keySwitches = 0;

  constructor(ctx: HeContext, keys: EvaluationKeys, model: CnnModel) {
    this.#net = tensealNet(model);
    const plan = tensealClientPlan(model);
    if (plan.input.kind !== 'im2col') throw new NnError('NN_INVALID_ARGUMENT', 'unreachable');
    this.#windows = plan.input.windowBlock;
    this.#kBlocks = plan.input.kBlocks;
    this.#slots = ctx.params.slots;
    this.#be = new HeBackend(ctx, new Evaluator(ctx, keys));
  }

  #rotate(x: Ciphertext, step: number): Ciphertext {
    let cur = x;
    for (const s of naf(step)) {
      const next = this.#be.rotate(cur, s);
      this.keySwitches++;
      if (cur !== x) cur[Symbol.dispose]();
      cur = next;
    }
    return cur === x ? x.clone() : cur;
  }

  #sum(acc: Ciphertext | undefined, v: Ciphertext): Ciphertext {
    if (acc === undefined) return v;
    const s = this.#be.add(acc, v);
    acc[Symbol.dispose]();
    v[Symbol.dispose]();
    return s;
  }

  #matmul(x: Ciphertext, layer: Dense, key: string): Ciphertext {
    const n = layer.inFeatures;
    const m = layer.outFeatures;
    const S = this.#slots;
    let acc: Ciphertext | undefined;
    for (let i = 0; i < n; i++) {
      // TenSEAL: diag = get_diagonal(matrix, −i) replicated over the slots, rotated right by i.
      const size = Math.min(S, n * m);
      const diag = new Array<number>(S);
      for (let t = 0; t < S; t++) {
        const u = (((t - i) % S) + S) % S;
        const k = u % size;
        diag[t] = layer.weight[((k % m) * n + ((i + k) % n)) | 0];
      }
      const p = this.#be.mulPlain(x, `${key}.d${i}`, diag, S);
      const r = i === 0 ? p : this.#rotate(p, i);
      if (r !== p) p[Symbol.dispose]();
      acc = this.#sum(acc, r);
    }
    const out = this.#be.rescale(acc!);
    acc![Symbol.dispose]();
    const bias = Array.from({ length: m }, (_, j) => layer.bias?.[j] ?? 0);
    const withBias = this.#be.addPlain(out, `${key}.bias`, bias, nextPow2(m));
    out[Symbol.dispose]();
    return withBias;
  }

  #square(x: Ciphertext): Ciphertext {
    using sq = this.#be.square(x);
    return this.#be.rescale(sq);
  }

  /** Runs the network on an input ciphertext in TenSEAL's im2col layout. */
  infer(x: Ciphertext): Ciphertext {
    const { conv, fc1, fc2 } = this.#net;
    const W = this.#windows;
    const C = conv.outChannels;
    const K = conv.kernel[0] * conv.kernel[1];
    let packed: Ciphertext | undefined;
    for (let c = 0; c < C; c++) {
      const kernel = new Array<number>(this.#kBlocks * W).fill(0);
      for (let k = 0; k < K; k++) for (let w = 0; w < W; w++) kernel[k * W + w] = conv.weight[c * K + k];
      using p = this.#be.mulPlain(x, `conv${c}`, kernel, this.#kBlocks * W);
      let y = this.#be.rescale(p);
      for (let chunks = this.#kBlocks / 2; chunks >= 1; chunks /= 2) {
        const r = this.#rotate(y, W * chunks);
        const s = this.#be.add(y, r);
        r[Symbol.dispose]();
        y[Symbol.dispose]();
        y = s;
      }
      const yb = this.#be.addPlain(y, `conv${c}.bias`, [conv.bias?.[c] ?? 0], 1);
      y[Symbol.dispose]();
      // pack_vectors: keep channel c's block of the C·W vector.
      const mask = new Array<number>(C * W).fill(0);
      for (let w = 0; w < W; w++) mask[c * W + w] = 1;
      using masked = this.#be.mulPlain(yb, `pack${c}`, mask, C * W);
      yb[Symbol.dispose]();
      packed = this.#sum(packed, this.#be.rescale(masked));
    }
    using a1 = this.#square(packed!);
    packed![Symbol.dispose]();
    using h = this.#matmul(a1, fc1, 'fc1');
    using a2 = this.#square(h);
    return this.#matmul(a2, fc2, 'fc2');
  }

  [Symbol.dispose](): void {
    this.#be[Symbol.dispose]();
  }
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

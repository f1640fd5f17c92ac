import { nextPow2 } from '../../he/encoder.ts';
import { createParameters, type ParametersLiteral, TC128_MAX_BITS } from '../../he/params.ts';
import { NnError } from '../errors.ts';
import { affineOf, isAffineLayer } from './affine.ts';
import { foldBatchNorm } from './fold-batchnorm.ts';
import { packIm2col } from './im2col.ts';
import { type CnnLayer, type CnnModel, modelShapes, windowOut } from './ir.ts';
import { applyPreprocessing } from './reference.ts';

/**
 * Window-packed layout for many patches at once (the tiled flow's packed mode).
 *
 * Supported models: `conv2d` (any C_in, kernel, stride, zero padding) → one degree-2 `poly` → affine
 * layers to the output (dense, flatten, avgpool, batchnorm, degree-≤1 poly). The client does the
 * im2col gather; one ciphertext holds `copies` kernel elements, each in its own block of S slots:
 *
 * ```
 * input ct i:  block j (slots j·S … j·S+S−1) = kernel element e = i·copies + j
 *              slot j·S + p·n_w + w = patch p's preprocessed pixel under element e of window w
 * ```
 *
 * Server (no rotation when copies = 1):
 * 1. conv: per output channel c, Σ_i ct_i ⊙ W_{c,i} (block j of W_{c,i} = weight[c][i·copies + j]),
 *    then log2(copies) rotations by S·copies/2 … S add the blocks (before the rescale, where their
 *    key-switching noise is negligible) — every block then holds u_c(p, w); rescale; + bias (the
 *    activation's shift folded in);
 * 2. square, relinearize: h_c = (u_c + β)² (not rescaled: see 3);
 * 3. dense, per output ciphertext o: z_o = Σ_c h_c ⊙ D_{o,c}, block j of D_{o,c} carrying class
 *    k = o·copies + j's weights for channel c at window w (repeated for every patch); one rescale
 *    (by the 60-bit prime) lands z_o at 2^outputScaleBits, where its rounding noise is negligible.
 * 4. protection: + bias of class k on window 0 of each patch, + a zero-sum mask per (patch, class)
 *    over the windows (uniform in ±2^maskBits), + a fresh Enc_pk(flood) (re-randomize + flood).
 *
 * The client decrypts and sums each patch's n_w window slots: logit_k(p) = Σ_w z(p, w) — the window
 * sum that would otherwise cost log2(n_w) rotations per class happens in the clear, after the
 * masks cancel.
 */
export interface WindowPackedOptions {
  /** Patches per request (1 … slots / n_w). */
  readonly patches: number;
  /**
   * Zero-sum window masks + re-randomize + flood (default true). `false` returns the raw per-window
   * partial products: for tests and benchmarks only — it reveals the dense layer's weights.
   */
  readonly protect?: boolean;
  /**
   * Half-width of the zero-sum masks, in bits of logit units (default 34: the largest that leaves
   * the logits' precision to the flood — at 36 the decoding of ±2^36 slots starts to show, at 40
   * it dominates; measured on the tiles bench's 49 patches).
   */
  readonly maskBits?: number;
}

/** Bit sizes of the modulus chain `[q0, q1, q_square, q_conv, special]`. */
export interface WindowPackedChain {
  readonly literal: ParametersLiteral;
  /** Input scale (bits); the conv plaintexts use the q_conv prime itself, so the scale survives. */
  readonly inputScaleBits: number;
  /** Output scale (bits): the dense plaintexts' scale is 2^outputScaleBits / (scale after square). */
  readonly outputScaleBits: number;
}

/**
 * The public part of a window-packed plan — everything a client needs (no weights): safe to send.
 */
export interface WindowPackedLayout {
  readonly kind: 'window-packed';
  /** Patches per request (the masks cover all of them). */
  readonly patches: number;
  readonly protect: boolean;
  /** Input shape [C_in, H, W]. */
  readonly inShape: readonly [number, number, number];
  /** The model's preprocessing, applied by the client before packing. */
  readonly preprocessing?: CnnModel['preprocessing'];
  readonly kernel: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly padding: readonly [number, number];
  /** Output channels of the conv. */
  readonly channels: number;
  /** Windows per patch n_w = oh·ow. */
  readonly windows: number;
  /** Kernel elements E = C_in·kh·kw. */
  readonly elements: number;
  /** Slots per block S = nextPow2(patches·n_w). */
  readonly block: number;
  /** Blocks per ciphertext (a power of two). */
  readonly copies: number;
  /** Input ciphertexts ⌈E / copies⌉. */
  readonly inputs: number;
  /** Classes K. */
  readonly classes: number;
  /** Output ciphertexts ⌈K / copies⌉. */
  readonly outputs: number;
  readonly chain: WindowPackedChain;
  /** Rotation steps (the conv fold), empty when copies = 1. */
  readonly galoisSteps: readonly number[];
  readonly relin: true;
  /** Zero-sum mask half-width (bits), 0 when unprotected. */
  readonly maskBits: number;
  /** Flood standard deviation (bits, scaled units), 0 when unprotected. */
  readonly floodSigmaBits: number;
}

/** A keyless window-packed plan: the public layout plus the server's (folded) weights. */
export interface WindowPackedPlan extends WindowPackedLayout {
  /** The model with batchnorm folded. */
  readonly model: CnnModel;
  /** Conv weights, C_out × E (row c, element (ci·kh + u)·kw + v). */
  readonly convWeight: Float64Array;
  /** Conv bias plus the activation's shift β = c1 / (2·c2). */
  readonly convBias: Float64Array;
  /** Head (everything after the activation, fused; scaled by c2): K × (C_out·n_w). */
  readonly head: Float64Array;
  /** Head bias (with the activation's constant folded in), K. */
  readonly headBias: Float64Array;
}

/** The weight-free part of a plan (what a server sends a client). */
export function windowPackedLayout(plan: WindowPackedPlan): WindowPackedLayout {
  const { model: _m, convWeight: _w, convBias: _b, head: _h, headBias: _hb, ...layout } = plan;
  return layout;
}

/** Logit standard deviation the flood is sized for, after the client's window sum (2^−11). */
export const WINDOW_FLOOD_LOGIT_BITS = -11;

const SUPPORTED =
  'supported: conv2d → one degree-2 poly (x², a·x²+b·x+c with a ≠ 0) → affine layers (dense, flatten, avgpool, batchnorm, degree-≤1 poly)';

// Rough per-operation costs (ms at N=16384, measured by the tiles bench's micro-runs) for choosing
// `copies`: an input ciphertext costs its encryption and one product per output channel; each
// doubling of `copies` costs one rotation per output channel.
const COST_PER_INPUT = 6.5;
const COST_PER_PRODUCT = 1.4;
const COST_PER_ROTATION = 11;

function chainFor(protect: boolean, slotsNeeded: number): WindowPackedChain {
  // Protected: input 2^50, conv plaintexts at the 50-bit prime (rescaled back to 2^50), h = u² at
  // 2^100, dense plaintexts at 2^25, the products rescaled by a 60-bit prime to 2^65 at level 1
  // (q0·q1 = 120 bits: the scale, the 2^34 masks and the logit range). 2^65 is the largest output
  // scale whose flood for a 2^−11 logit stays within createFloodMask's σ ≤ 2^45.
  // Unprotected: a smaller chain that fits N=8192.
  const bits = protect ? [60, 60, 60, 50, 60] : [40, 40, 40, 35, 60];
  const inputScaleBits = protect ? 50 : 35;
  const outputScaleBits = protect ? 65 : 60;
  const total = bits.reduce((a, b) => a + b, 0);
  for (const n of [8192, 16384, 32768]) {
    if (total > TC128_MAX_BITS[n] || n / 2 < slotsNeeded) continue;
    const literal: ParametersLiteral = {
      scheme: 'ckks',
      polyModulusDegree: n,
      coeffModulusBits: bits,
      scaleBits: inputScaleBits,
    };
    createParameters(literal);
    return { literal, inputScaleBits, outputScaleBits };
  }
  throw new NnError(
    'NN_INVALID_ARGUMENT',
    `cannot plan window packing: ${slotsNeeded} slots exceed the largest ring (16384 slots)`,
  );
}

function convOf(layer: CnnLayer | undefined): Extract<CnnLayer, { op: 'conv2d' }> {
  if (layer?.op !== 'conv2d') {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot plan window packing: layer 0 is ${layer?.op ?? 'missing'}, not conv2d (${SUPPORTED})`,
    );
  }
  return layer;
}

/**
 * Plans the window-packed layout for `opts.patches` patches of `input`'s shape. Keyless: the
 * parameters, rotation steps (the conv fold only) and every plaintext weight are fixed here.
 */
export function planWindowPacked(input: CnnModel, opts: WindowPackedOptions): WindowPackedPlan {
  const patches = opts.patches;
  if (!Number.isSafeInteger(patches) || patches < 1) {
    throw new NnError('NN_INVALID_ARGUMENT', `cannot plan window packing: "patches" = ${patches}`);
  }
  const protect = opts.protect !== false;
  const maskBits = protect ? (opts.maskBits ?? 34) : 0;
  if (protect && !(Number.isInteger(maskBits) && maskBits >= 8 && maskBits <= 40)) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot plan window packing: "maskBits" ${maskBits} not in 8…40`,
    );
  }
  const model = foldBatchNorm(input);
  const shapes = modelShapes(model);
  const conv = convOf(model.layers[0]);
  const act = model.layers[1];
  // Degree = index of the last non-zero coefficient (trailing zeros do not count).
  let degree = act?.op === 'poly' ? act.coeffs.length - 1 : -1;
  while (act?.op === 'poly' && degree > 0 && act.coeffs[degree] === 0) degree--;
  if (act?.op !== 'poly' || degree !== 2) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot plan window packing: layer 1 is ${act?.op === 'poly' ? `a degree-${degree} poly` : (act?.op ?? 'missing')} (${SUPPORTED})`,
    );
  }
  const tail = model.layers.slice(2);
  tail.forEach((l, i) => {
    if (!isAffineLayer(l)) {
      throw new NnError(
        'NN_INVALID_ARGUMENT',
        `cannot plan window packing: layer ${i + 2} (${l.op}) is not affine (${SUPPORTED})`,
      );
    }
  });
  if (tail.length === 0) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot plan window packing: no layer after the activation (${SUPPORTED})`,
    );
  }
  const s0 = shapes[0];
  const inShape: [number, number, number] = s0.length === 3 ? [s0[0], s0[1], s0[2]] : [1, s0[0], s0[1]];
  const [cin, h, w] = inShape;
  const [kh, kw] = conv.kernel;
  const oh = windowOut(h, kh, conv.stride[0], conv.padding[0]);
  const ow = windowOut(w, kw, conv.stride[1], conv.padding[1]);
  const windows = oh * ow;
  const elements = cin * kh * kw;
  const channels = conv.outChannels;
  const block = nextPow2(patches * windows);
  const chain = chainFor(protect, block);
  const slots = chain.literal.polyModulusDegree / 2;
  // copies: fewer input ciphertexts vs one rotation per channel per doubling.
  let copies = 1;
  let best = Number.POSITIVE_INFINITY;
  for (let c = 1; c <= Math.min(slots / block, nextPow2(elements)); c *= 2) {
    const cost =
      Math.ceil(elements / c) * (COST_PER_INPUT + channels * COST_PER_PRODUCT) +
      Math.log2(c) * channels * COST_PER_ROTATION;
    if (cost < best) {
      best = cost;
      copies = c;
    }
  }
  const galoisSteps: number[] = [];
  for (let st = (block * copies) / 2; st >= block; st /= 2) galoisSteps.push(st);
  const map = affineOf(tail, shapes[2]);
  const [c0 = 0, c1 = 0, c2 = 0] = act.coeffs;
  const beta = c1 / (2 * c2);
  const convBias = Float64Array.from({ length: channels }, (_, c) => (conv.bias?.[c] ?? 0) + beta);
  const head = Float64Array.from(map.matrix, (v) => v * c2);
  const headBias = Float64Array.from(map.bias, (b, k) => {
    let s = 0;
    for (let j = 0; j < map.n; j++) s += map.matrix[k * map.n + j];
    return b + (c0 - c2 * beta * beta) * s;
  });
  const n = chain.literal.polyModulusDegree;
  const floodSigmaBits = protect
    ? Math.min(
        45,
        Math.floor(
          chain.outputScaleBits +
            WINDOW_FLOOD_LOGIT_BITS -
            Math.log2(Math.sqrt(n / 2)) -
            Math.log2(Math.sqrt(windows)),
        ),
      )
    : 0;
  return {
    kind: 'window-packed',
    model,
    patches,
    protect,
    inShape,
    ...(model.preprocessing ? { preprocessing: model.preprocessing } : {}),
    kernel: conv.kernel,
    stride: conv.stride,
    padding: conv.padding,
    channels,
    windows,
    elements,
    block,
    copies,
    inputs: Math.ceil(elements / copies),
    classes: map.m,
    outputs: Math.ceil(map.m / copies),
    convWeight: Float64Array.from(conv.weight),
    convBias,
    head,
    headBias,
    chain,
    galoisSteps,
    relin: true,
    maskBits,
    floodSigmaBits,
  };
}

/** The model's preprocessing `(p·scale − mean)/std` per channel, from the layout alone. */
export function preprocessPatch(plan: WindowPackedLayout, pixels: ArrayLike<number>): Float64Array {
  const [C, H, W] = plan.inShape;
  if (pixels.length !== C * H * W) {
    throw new NnError(
      'NN_SHAPE_MISMATCH',
      `cannot preprocess patch: ${pixels.length} pixels, expected ${C}×${H}×${W}`,
    );
  }
  const out = Float64Array.from(pixels);
  return plan.preprocessing === undefined ? out : applyPreprocessing(plan.preprocessing, C, out);
}

/**
 * im2col of one preprocessed patch: E rows of n_w windows (padding positions are zero) — the im2col
 * client gather with a block of exactly n_w slots, one row per kernel element.
 */
export function im2colPatch(plan: WindowPackedLayout, x: ArrayLike<number>): Float64Array[] {
  const { windows: nw, elements: E } = plan;
  const flat = packIm2col(
    {
      kind: 'im2col',
      shape: plan.inShape,
      kernel: plan.kernel,
      stride: plan.stride,
      padding: plan.padding,
      windowBlock: nw,
      kBlocks: E,
      period: E * nw,
    },
    x,
  );
  return Array.from({ length: E }, (_, e) => flat.subarray(e * nw, (e + 1) * nw));
}

function checkPatches(plan: WindowPackedLayout, patches: readonly ArrayLike<number>[], op: string): void {
  if (patches.length < 1 || patches.length > plan.patches) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot ${op}: ${patches.length} patches, the plan packs 1…${plan.patches}`,
    );
  }
}

/**
 * Client: preprocesses raw patches (CHW) and lays them out — one slot vector (block·copies values)
 * per input ciphertext. Fewer patches than planned leave zero slots.
 */
export function packWindowInputs(
  plan: WindowPackedLayout,
  patches: readonly ArrayLike<number>[],
): Float64Array[] {
  checkPatches(plan, patches, 'pack windows');
  const cols = patches.map((p) => im2colPatch(plan, preprocessPatch(plan, p)));
  const { block: S, copies, windows: nw } = plan;
  return Array.from({ length: plan.inputs }, (_, i) => {
    const v = new Float64Array(S * copies);
    for (let j = 0; j < copies; j++) {
      const e = i * copies + j;
      if (e >= plan.elements) break;
      cols.forEach((rows, p) => {
        v.set(rows[e], j * S + p * nw);
      });
    }
    return v;
  });
}

/** Inverse of {@link packWindowInputs} (after preprocessing): per patch, its im2col rows. */
export function unpackWindowInputs(
  plan: WindowPackedLayout,
  vectors: readonly ArrayLike<number>[],
  count: number,
): Float64Array[][] {
  if (vectors.length !== plan.inputs) {
    throw new NnError(
      'NN_SHAPE_MISMATCH',
      `cannot unpack windows: ${vectors.length} vectors, plan has ${plan.inputs}`,
    );
  }
  const { block: S, copies, windows: nw } = plan;
  return Array.from({ length: count }, (_, p) =>
    Array.from({ length: plan.elements }, (_, e) => {
      const v = vectors[Math.floor(e / copies)];
      const off = (e % copies) * S + p * nw;
      return Float64Array.from({ length: nw }, (_, w) => v[off + w]);
    }),
  );
}

/**
 * Float64 twin of the encrypted program, per patch: the per-window partial products z_k(w) (what
 * the server returns before masks, with the class bias on window 0) and their sums (the logits).
 */
export function windowPackedPlain(
  plan: WindowPackedPlan,
  patches: readonly ArrayLike<number>[],
): { logits: Float64Array[]; partials: Float64Array[][] } {
  checkPatches(plan, patches, 'run the window-packed twin');
  const { channels: C, elements: E, windows: nw, classes: K } = plan;
  const partials: Float64Array[][] = [];
  const logits = patches.map((px) => {
    const rows = im2colPatch(plan, preprocessPatch(plan, px));
    const hs = new Float64Array(C * nw);
    for (let c = 0; c < C; c++)
      for (let w = 0; w < nw; w++) {
        let u = plan.convBias[c];
        for (let e = 0; e < E; e++) u += plan.convWeight[c * E + e] * rows[e][w];
        hs[c * nw + w] = u * u;
      }
    const zs: Float64Array[] = [];
    const out = Float64Array.from({ length: K }, (_, k) => {
      const z = new Float64Array(nw);
      for (let w = 0; w < nw; w++) {
        let s = w === 0 ? plan.headBias[k] : 0;
        for (let c = 0; c < C; c++) s += hs[c * nw + w] * plan.head[k * C * nw + c * nw + w];
        z[w] = s;
      }
      zs.push(z);
      return z.reduce((a, b) => a + b, 0);
    });
    partials.push(zs);
    return out;
  });
  return { logits, partials };
}

/**
 * Statistical distance exponent of the zero-sum masks for one response, given the largest |partial
 * product| a patch can produce: for two partial vectors with equal window sums, the first n_w − 1
 * masked coordinates are uniform boxes of half-width R = 2^maskBits shifted by at most 2·zMax, so the
 * distance is ≤ Σ (2·zMax)/(2R) over patches × classes × (n_w − 1) coordinates.
 */
export function windowMaskLambda(plan: WindowPackedLayout, zMax: number): number {
  if (!plan.protect) return 0;
  return (
    plan.maskBits - Math.log2(plan.patches * plan.classes * (plan.windows - 1) * Math.max(zMax, 2 ** -20))
  );
}

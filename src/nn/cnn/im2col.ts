import { nextPow2 } from '../../he/encoder.ts';
import { NnError } from '../errors.ts';
import { type CnnLayer, windowOut } from './ir.ts';
import type { InputLayout, Stage } from './plan.ts';

type Conv = Extract<CnnLayer, { op: 'conv2d' }>;

/**
 * im2col packing of the first convolution, all output channels in one ciphertext.
 *
 * K = C_in·kh·kw kernel elements, n_w = oh·ow windows, block B = nextPow2(n_w), C' = nextPow2(C_out),
 * kBlocks = max(nextPow2(K), C'). The client packs patch element k of window w at slot k·B + w:
 *
 * ```
 * slot:  0 … B−1 | B … 2B−1 | … | (kBlocks−1)·B …      (period kBlocks·B, repeated over all slots)
 *        k = 0    | k = 1    | … | k = kBlocks−1        (k ≥ K: zeros)
 *        w = 0 … n_w−1 in each block (w ≥ n_w: zeros)
 * ```
 *
 * The server computes Σ_{r<C'} rot(x, r·B) ⊙ W_r with W_r[b·B + w] = K[b mod C'][(b + r) mod kBlocks]:
 * block b then holds the partial sums of channel b mod C' over kernel elements b…b+C'−1. A rotation
 * tree with steps C'·B, 2C'·B, … adds the blocks of equal channel, so every slot c·B + w ends with
 * output (c, w), repeated with period C'·B — exactly a channel-major vector for the next layer:
 *
 * ```
 * out:   c=0: w=0…n_w−1 | c=1 | … | c=C'−1 | c=0 | …    (period C'·B)
 * ```
 *
 * Cost: C'−1 rotations of the input, C' plaintext products, log2(kBlocks/C') rotations; 1 level.
 * TenSEAL instead runs one product and log2(kBlocks) rotations per output channel and then packs
 * the channels with masks (one more level).
 */
export function planIm2colConv(
  conv: Conv,
  inShape: readonly number[],
  slots: number,
): { input: InputLayout; stage: Stage; outPositions: number[] } {
  const [cin, h, w] = inShape;
  const [kh, kw] = conv.kernel;
  const oh = windowOut(h, kh, conv.stride[0], conv.padding[0]);
  const ow = windowOut(w, kw, conv.stride[1], conv.padding[1]);
  const nw = oh * ow;
  const K = cin * kh * kw;
  const B = nextPow2(nw);
  const cp = nextPow2(conv.outChannels);
  const kBlocks = Math.max(nextPow2(K), cp);
  const period = kBlocks * B;
  if (period > slots) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot pack conv2d by im2col: ${kBlocks} kernel blocks × ${B} windows = ${period} slots exceed ${slots}`,
    );
  }
  const weights: number[][] = [];
  const rotations: number[] = [];
  for (let r = 0; r < cp; r++) {
    const v = new Array<number>(period).fill(0);
    for (let b = 0; b < kBlocks; b++) {
      const c = b % cp;
      const k = (b + r) % kBlocks;
      if (c >= conv.outChannels || k >= K) continue;
      const wk = conv.weight[c * K + k];
      for (let j = 0; j < nw; j++) v[b * B + j] = wk;
    }
    weights.push(v);
    if (r > 0) rotations.push(r * B);
  }
  const reduceSteps: number[] = [];
  for (let s = cp * B; s < period; s *= 2) reduceSteps.push(s);
  const outPeriod = cp * B;
  const bias = new Array<number>(outPeriod).fill(0);
  const outPositions: number[] = [];
  for (let c = 0; c < conv.outChannels; c++)
    for (let j = 0; j < nw; j++) {
      bias[c * B + j] = conv.bias?.[c] ?? 0;
      outPositions.push(c * B + j);
    }
  return {
    input: {
      kind: 'im2col',
      shape: [cin, h, w],
      kernel: conv.kernel,
      stride: conv.stride,
      padding: conv.padding,
      windowBlock: B,
      kBlocks,
      period,
    },
    stage: { kind: 'im2col-conv', period, rotations, weights, reduceSteps, outPeriod, bias },
    outPositions,
  };
}

/**
 * Client side: lays a preprocessed CHW image into the im2col slots of `layout` (one period; the
 * encoder repeats it). Padding positions are zero.
 */
export function packIm2col(
  layout: Extract<InputLayout, { kind: 'im2col' }>,
  x: ArrayLike<number>,
): Float64Array {
  const [cin, h, w] = layout.shape;
  const [kh, kw] = layout.kernel;
  const oh = windowOut(h, kh, layout.stride[0], layout.padding[0]);
  const ow = windowOut(w, kw, layout.stride[1], layout.padding[1]);
  const out = new Float64Array(layout.period);
  const B = layout.windowBlock;
  for (let c = 0; c < cin; c++)
    for (let u = 0; u < kh; u++)
      for (let v = 0; v < kw; v++) {
        const k = (c * kh + u) * kw + v;
        for (let i = 0; i < oh; i++) {
          const r = i * layout.stride[0] + u - layout.padding[0];
          if (r < 0 || r >= h) continue;
          for (let j = 0; j < ow; j++) {
            const s = j * layout.stride[1] + v - layout.padding[1];
            if (s < 0 || s >= w) continue;
            out[k * B + i * ow + j] = x[(c * h + r) * w + s];
          }
        }
      }
  return out;
}

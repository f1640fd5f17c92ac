import { NnError } from '../errors.ts';
import { gemmNN, gemmNT, gemmTN } from './gemm.ts';
import { ensure, type Layer, type LayerConfig, type Param } from './layer.ts';
import type { Rng } from './rng.ts';

/**
 * 2-D convolution (square kernel, symmetric zero padding, stride) by im2col + GEMM.
 * Weights are `[outC, inC, k, k]` (ONNX `Conv` layout), He-initialised for ReLU networks.
 */
export class Conv2d implements Layer {
  readonly config: Extract<LayerConfig, { type: 'conv2d' }>;
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  readonly weight: Param;
  readonly bias: Param;
  private _cols: Float32Array | undefined;
  private _y: Float32Array | undefined;
  private _dx: Float32Array | undefined;
  private _dcol: Float32Array | undefined;

  constructor(
    name: string,
    inShape: readonly number[],
    config: Extract<LayerConfig, { type: 'conv2d' }>,
    rng: Rng,
  ) {
    const [c, h, w] = inShape;
    const { outChannels, kernel, stride, padding } = config;
    const oh = Math.floor((h + 2 * padding - kernel) / stride) + 1;
    const ow = Math.floor((w + 2 * padding - kernel) / stride) + 1;
    if (inShape.length !== 3 || oh < 1 || ow < 1 || stride < 1 || kernel < 1) {
      throw new NnError(
        'NN_SHAPE_MISMATCH',
        `Conv2d(${name}): bad input ${inShape} for ${JSON.stringify(config)}`,
      );
    }
    this.config = config;
    this.inShape = inShape;
    this.outShape = [outChannels, oh, ow];
    const fanIn = c * kernel * kernel;
    const wv = new Float32Array(outChannels * fanIn);
    const std = Math.sqrt(2 / fanIn);
    for (let i = 0; i < wv.length; i++) wv[i] = rng.normal() * std;
    this.weight = { name: `${name}.weight`, value: wv, grad: new Float32Array(wv.length) };
    this.bias = {
      name: `${name}.bias`,
      value: new Float32Array(outChannels),
      grad: new Float32Array(outChannels),
      decay: false,
    };
  }

  params(): Param[] {
    return [this.weight, this.bias];
  }

  private _im2col(x: Float32Array, xOff: number, col: Float32Array, colOff: number): void {
    const [c, h, w] = this.inShape;
    const [, oh, ow] = this.outShape;
    const { kernel: k, stride: s, padding: p } = this.config;
    const ohw = oh * ow;
    for (let ci = 0; ci < c; ci++) {
      for (let ky = 0; ky < k; ky++) {
        for (let kx = 0; kx < k; kx++) {
          const row = colOff + ((ci * k + ky) * k + kx) * ohw;
          for (let oy = 0; oy < oh; oy++) {
            const iy = oy * s - p + ky;
            const dst = row + oy * ow;
            if (iy < 0 || iy >= h) {
              col.fill(0, dst, dst + ow);
              continue;
            }
            const src = xOff + (ci * h + iy) * w;
            for (let ox = 0; ox < ow; ox++) {
              const ix = ox * s - p + kx;
              col[dst + ox] = ix >= 0 && ix < w ? x[src + ix] : 0;
            }
          }
        }
      }
    }
  }

  private _col2im(col: Float32Array, dx: Float32Array, dxOff: number): void {
    const [c, h, w] = this.inShape;
    const [, oh, ow] = this.outShape;
    const { kernel: k, stride: s, padding: p } = this.config;
    const ohw = oh * ow;
    for (let ci = 0; ci < c; ci++) {
      for (let ky = 0; ky < k; ky++) {
        for (let kx = 0; kx < k; kx++) {
          const row = ((ci * k + ky) * k + kx) * ohw;
          for (let oy = 0; oy < oh; oy++) {
            const iy = oy * s - p + ky;
            if (iy < 0 || iy >= h) continue;
            const dst = dxOff + (ci * h + iy) * w;
            const src = row + oy * ow;
            for (let ox = 0; ox < ow; ox++) {
              const ix = ox * s - p + kx;
              if (ix >= 0 && ix < w) dx[dst + ix] += col[src + ox];
            }
          }
        }
      }
    }
  }

  forward(x: Float32Array, batch: number, training: boolean): Float32Array {
    const [c, h, w] = this.inShape;
    const [oc, oh, ow] = this.outShape;
    const k = this.config.kernel;
    const ckk = c * k * k;
    const ohw = oh * ow;
    const inSize = c * h * w;
    const outSize = oc * ohw;
    const y = (this._y = ensure(this._y, batch * outSize));
    // Training keeps every sample's columns for backward; inference reuses one sample's worth.
    const cols = (this._cols = ensure(this._cols, (training ? batch : 1) * ckk * ohw));
    const wv = this.weight.value;
    const bv = this.bias.value;
    for (let b = 0; b < batch; b++) {
      const colOff = training ? b * ckk * ohw : 0;
      this._im2col(x, b * inSize, cols, colOff);
      const yOff = b * outSize;
      for (let o = 0; o < oc; o++) y.fill(bv[o], yOff + o * ohw, yOff + (o + 1) * ohw);
      gemmNN(oc, ohw, ckk, wv, 0, cols, colOff, y, yOff);
    }
    return y;
  }

  backward(dy: Float32Array, batch: number, needInputGrad: boolean): Float32Array {
    const [c, h, w] = this.inShape;
    const [oc, oh, ow] = this.outShape;
    const k = this.config.kernel;
    const ckk = c * k * k;
    const ohw = oh * ow;
    const inSize = c * h * w;
    const outSize = oc * ohw;
    const cols = this._cols!;
    if (cols.length !== batch * ckk * ohw) {
      throw new NnError('NN_SHAPE_MISMATCH', 'Conv2d.backward: call forward(training = true) first');
    }
    const gw = this.weight.grad;
    const gb = this.bias.grad;
    const dx = needInputGrad ? (this._dx = ensure(this._dx, batch * inSize)) : new Float32Array(0);
    if (needInputGrad) dx.fill(0);
    const dcol = needInputGrad ? (this._dcol = ensure(this._dcol, ckk * ohw)) : undefined;
    for (let b = 0; b < batch; b++) {
      const yOff = b * outSize;
      const colOff = b * ckk * ohw;
      gemmNT(oc, ckk, ohw, dy, yOff, cols, colOff, gw, 0);
      for (let o = 0; o < oc; o++) {
        let s = 0;
        const base = yOff + o * ohw;
        for (let j = 0; j < ohw; j++) s += dy[base + j];
        gb[o] += s;
      }
      if (dcol !== undefined) {
        dcol.fill(0);
        gemmTN(ckk, ohw, oc, this.weight.value, 0, dy, yOff, dcol, 0);
        this._col2im(dcol, dx, b * inSize);
      }
    }
    return dx;
  }
}

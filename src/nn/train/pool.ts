import { NnError } from '../errors.ts';
import { ensure, type Layer, type LayerConfig, type Param } from './layer.ts';

function pooledShape(name: string, inShape: readonly number[], k: number, s: number): number[] {
  const [c, h, w] = inShape;
  const oh = Math.floor((h - k) / s) + 1;
  const ow = Math.floor((w - k) / s) + 1;
  if (inShape.length !== 3 || oh < 1 || ow < 1) {
    throw new NnError('NN_SHAPE_MISMATCH', `${name}: input ${inShape} too small for kernel ${k} stride ${s}`);
  }
  return [c, oh, ow];
}

/** Max pooling (no padding; ONNX `MaxPool` with `kernel_shape`, `strides`). Remembers argmax for backward. */
export class MaxPool2d implements Layer {
  readonly config: Extract<LayerConfig, { type: 'maxpool' }>;
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  private _arg: Int32Array | undefined;
  private _y: Float32Array | undefined;
  private _dx: Float32Array | undefined;
  constructor(inShape: readonly number[], config: Extract<LayerConfig, { type: 'maxpool' }>) {
    this.config = config;
    this.inShape = inShape;
    this.outShape = pooledShape('MaxPool2d', inShape, config.kernel, config.stride);
  }
  params(): Param[] {
    return [];
  }
  forward(x: Float32Array, batch: number): Float32Array {
    const [c, h, w] = this.inShape;
    const [, oh, ow] = this.outShape;
    const { kernel: k, stride: s } = this.config;
    const n = batch * c * oh * ow;
    const y = (this._y = ensure(this._y, n));
    if (this._arg === undefined || this._arg.length !== n) this._arg = new Int32Array(n);
    const arg = this._arg;
    let o = 0;
    for (let bc = 0; bc < batch * c; bc++) {
      const base = bc * h * w;
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          let best = -Infinity;
          let bi = 0;
          for (let ky = 0; ky < k; ky++) {
            const row = base + (oy * s + ky) * w + ox * s;
            for (let kx = 0; kx < k; kx++) {
              const v = x[row + kx];
              if (v > best) {
                best = v;
                bi = row + kx;
              }
            }
          }
          y[o] = best;
          arg[o++] = bi;
        }
      }
    }
    return y;
  }
  backward(dy: Float32Array, batch: number, needInputGrad: boolean): Float32Array {
    if (!needInputGrad) return new Float32Array(0);
    const dx = (this._dx = ensure(this._dx, batch * this.inShape[0] * this.inShape[1] * this.inShape[2]));
    dx.fill(0);
    const arg = this._arg!;
    for (let i = 0; i < dy.length; i++) dx[arg[i]] += dy[i];
    return dx;
  }
}

/** Average pooling (no padding; ONNX `AveragePool`). Linear, so it is also usable under encryption. */
export class AvgPool2d implements Layer {
  readonly config: Extract<LayerConfig, { type: 'avgpool' }>;
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  private _y: Float32Array | undefined;
  private _dx: Float32Array | undefined;
  constructor(inShape: readonly number[], config: Extract<LayerConfig, { type: 'avgpool' }>) {
    this.config = config;
    this.inShape = inShape;
    this.outShape = pooledShape('AvgPool2d', inShape, config.kernel, config.stride);
  }
  params(): Param[] {
    return [];
  }
  forward(x: Float32Array, batch: number): Float32Array {
    const [c, h, w] = this.inShape;
    const [, oh, ow] = this.outShape;
    const { kernel: k, stride: s } = this.config;
    const y = (this._y = ensure(this._y, batch * c * oh * ow));
    const inv = 1 / (k * k);
    let o = 0;
    for (let bc = 0; bc < batch * c; bc++) {
      const base = bc * h * w;
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          let sum = 0;
          for (let ky = 0; ky < k; ky++) {
            const row = base + (oy * s + ky) * w + ox * s;
            for (let kx = 0; kx < k; kx++) sum += x[row + kx];
          }
          y[o++] = sum * inv;
        }
      }
    }
    return y;
  }
  backward(dy: Float32Array, batch: number, needInputGrad: boolean): Float32Array {
    if (!needInputGrad) return new Float32Array(0);
    const [c, h, w] = this.inShape;
    const [, oh, ow] = this.outShape;
    const { kernel: k, stride: s } = this.config;
    const dx = (this._dx = ensure(this._dx, batch * c * h * w));
    dx.fill(0);
    const inv = 1 / (k * k);
    let o = 0;
    for (let bc = 0; bc < batch * c; bc++) {
      const base = bc * h * w;
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          const g = dy[o++] * inv;
          for (let ky = 0; ky < k; ky++) {
            const row = base + (oy * s + ky) * w + ox * s;
            for (let kx = 0; kx < k; kx++) dx[row + kx] += g;
          }
        }
      }
    }
    return dx;
  }
}

/** Global average pooling `[B, C, H, W] → [B, C]` (ONNX `GlobalAveragePool` followed by `Flatten`). */
export class GlobalAvgPool implements Layer {
  readonly config: LayerConfig = { type: 'gap' };
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  private _y: Float32Array | undefined;
  private _dx: Float32Array | undefined;
  constructor(inShape: readonly number[]) {
    if (inShape.length !== 3)
      throw new NnError('NN_SHAPE_MISMATCH', `GlobalAvgPool: input ${inShape} is not [C,H,W]`);
    this.inShape = inShape;
    this.outShape = [inShape[0]];
  }
  params(): Param[] {
    return [];
  }
  forward(x: Float32Array, batch: number): Float32Array {
    const [c, h, w] = this.inShape;
    const hw = h * w;
    const y = (this._y = ensure(this._y, batch * c));
    for (let i = 0; i < batch * c; i++) {
      let s = 0;
      const base = i * hw;
      for (let j = 0; j < hw; j++) s += x[base + j];
      y[i] = s / hw;
    }
    return y;
  }
  backward(dy: Float32Array, batch: number, needInputGrad: boolean): Float32Array {
    if (!needInputGrad) return new Float32Array(0);
    const [c, h, w] = this.inShape;
    const hw = h * w;
    const dx = (this._dx = ensure(this._dx, batch * c * hw));
    for (let i = 0; i < batch * c; i++) dx.fill(dy[i] / hw, i * hw, (i + 1) * hw);
    return dx;
  }
}

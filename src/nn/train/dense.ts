import { NnError } from '../errors.ts';
import { gemmNN, gemmNT, gemmTN } from './gemm.ts';
import { ensure, type Layer, type LayerConfig, type Param, sizeOf } from './layer.ts';
import type { Rng } from './rng.ts';

/**
 * Fully connected layer `y = x Wᵀ + b`, W `[units, in]` (ONNX `Gemm` with `transB = 1`).
 * Accepts any per-sample input shape (it flattens).
 */
export class Dense implements Layer {
  readonly config: Extract<LayerConfig, { type: 'dense' }>;
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  readonly weight: Param;
  readonly bias: Param;
  private _x: Float32Array | undefined;
  private _y: Float32Array | undefined;
  private _dx: Float32Array | undefined;
  constructor(
    name: string,
    inShape: readonly number[],
    config: Extract<LayerConfig, { type: 'dense' }>,
    rng: Rng,
  ) {
    const fanIn = sizeOf(inShape);
    if (!(config.units >= 1) || fanIn < 1) {
      throw new NnError('NN_SHAPE_MISMATCH', `Dense(${name}): bad units ${config.units} or input ${inShape}`);
    }
    this.config = config;
    this.inShape = inShape;
    this.outShape = [config.units];
    const wv = new Float32Array(config.units * fanIn);
    // Glorot-uniform-like scale; the ReLU that may follow is fine with it at these sizes.
    const std = Math.sqrt(2 / (fanIn + config.units));
    for (let i = 0; i < wv.length; i++) wv[i] = rng.normal() * std;
    this.weight = { name: `${name}.weight`, value: wv, grad: new Float32Array(wv.length) };
    this.bias = {
      name: `${name}.bias`,
      value: new Float32Array(config.units),
      grad: new Float32Array(config.units),
      decay: false,
    };
  }
  params(): Param[] {
    return [this.weight, this.bias];
  }
  forward(x: Float32Array, batch: number): Float32Array {
    const n = this.config.units;
    const k = sizeOf(this.inShape);
    this._x = x;
    const y = (this._y = ensure(this._y, batch * n));
    for (let b = 0; b < batch; b++) y.set(this.bias.value, b * n);
    gemmNT(batch, n, k, x, 0, this.weight.value, 0, y, 0);
    return y;
  }
  backward(dy: Float32Array, batch: number, needInputGrad: boolean): Float32Array {
    const n = this.config.units;
    const k = sizeOf(this.inShape);
    gemmTN(n, k, batch, dy, 0, this._x!, 0, this.weight.grad, 0);
    const gb = this.bias.grad;
    for (let b = 0; b < batch; b++) for (let j = 0; j < n; j++) gb[j] += dy[b * n + j];
    if (!needInputGrad) return new Float32Array(0);
    const dx = (this._dx = ensure(this._dx, batch * k));
    dx.fill(0);
    gemmNN(batch, k, n, dy, 0, this.weight.value, 0, dx, 0);
    return dx;
  }
}

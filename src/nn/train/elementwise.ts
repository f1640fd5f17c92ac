import { ensure, type Layer, type LayerConfig, type Param, sizeOf } from './layer.ts';

/** ReLU. Backward uses the stored output (y > 0 ⇔ x > 0). */
export class Relu implements Layer {
  readonly config: LayerConfig = { type: 'relu' };
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  private _y: Float32Array | undefined;
  private _dx: Float32Array | undefined;
  constructor(inShape: readonly number[]) {
    this.inShape = inShape;
    this.outShape = inShape;
  }
  params(): Param[] {
    return [];
  }
  forward(x: Float32Array): Float32Array {
    const y = (this._y = ensure(this._y, x.length));
    for (let i = 0; i < x.length; i++) y[i] = Math.max(x[i], 0);
    return y;
  }
  backward(dy: Float32Array, _batch: number, needInputGrad: boolean): Float32Array {
    if (!needInputGrad) return new Float32Array(0);
    const y = this._y!;
    const dx = (this._dx = ensure(this._dx, dy.length));
    for (let i = 0; i < dy.length; i++) dx[i] = y[i] > 0 ? dy[i] : 0;
    return dx;
  }
}

/** Flatten `[C, H, W] → [C·H·W]`: a reshape only (sample-major buffers are already flat). */
export class Flatten implements Layer {
  readonly config: LayerConfig = { type: 'flatten' };
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  constructor(inShape: readonly number[]) {
    this.inShape = inShape;
    this.outShape = [sizeOf(inShape)];
  }
  params(): Param[] {
    return [];
  }
  forward(x: Float32Array): Float32Array {
    return x;
  }
  backward(dy: Float32Array): Float32Array {
    return dy;
  }
}

/** x² activation: the HE-friendly non-linearity of MLP heads (one ciphertext multiplication). */
export class Square implements Layer {
  readonly config: LayerConfig = { type: 'square' };
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  private _x: Float32Array | undefined;
  private _y: Float32Array | undefined;
  private _dx: Float32Array | undefined;
  constructor(inShape: readonly number[]) {
    this.inShape = inShape;
    this.outShape = inShape;
  }
  params(): Param[] {
    return [];
  }
  forward(x: Float32Array): Float32Array {
    this._x = x;
    const y = (this._y = ensure(this._y, x.length));
    for (let i = 0; i < x.length; i++) y[i] = x[i] * x[i];
    return y;
  }
  backward(dy: Float32Array, _batch: number, needInputGrad: boolean): Float32Array {
    if (!needInputGrad) return new Float32Array(0);
    const x = this._x!;
    const dx = (this._dx = ensure(this._dx, dy.length));
    for (let i = 0; i < dy.length; i++) dx[i] = 2 * x[i] * dy[i];
    return dx;
  }
}

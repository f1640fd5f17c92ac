import { ensure, type Layer, type LayerConfig, type Param } from './layer.ts';

/**
 * Trainable degree-2 activation `y = a·x² + b·x + c` with three scalars shared by the whole layer
 * (IR `poly` with coeffs `[c, b, a]`). Costs one ciphertext multiplication like x²; the linear term
 * keeps gradients alive near 0 and `a` lets training shrink the square when activations grow.
 * Initialised to `init` (default `[0, 0, 1]` = plain x²) so a poly net starts as the x² net.
 */
export class Poly2 implements Layer {
  readonly config: Extract<LayerConfig, { type: 'poly' }>;
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  /** `[c, b, a]`, IR coefficient order. */
  readonly coeffs: Param;
  private _x: Float32Array | undefined;
  private _y: Float32Array | undefined;
  private _dx: Float32Array | undefined;
  constructor(name: string, inShape: readonly number[], config: Extract<LayerConfig, { type: 'poly' }>) {
    this.config = config;
    this.inShape = inShape;
    this.outShape = inShape;
    const init = config.init ?? [0, 0, 1];
    // AdamW leaves the three scalars undecayed (`decay: false`, like a bias).
    this.coeffs = {
      name: `${name}.poly.bias`,
      value: Float32Array.from(init),
      grad: new Float32Array(3),
      decay: false,
    };
  }
  params(): Param[] {
    return [this.coeffs];
  }
  forward(x: Float32Array): Float32Array {
    this._x = x;
    const [c, b, a] = this.coeffs.value;
    const y = (this._y = ensure(this._y, x.length));
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      y[i] = (a * v + b) * v + c;
    }
    return y;
  }
  backward(dy: Float32Array, _batch: number, needInputGrad: boolean): Float32Array {
    const x = this._x!;
    const [, b, a] = this.coeffs.value;
    let gc = 0;
    let gb = 0;
    let ga = 0;
    for (let i = 0; i < dy.length; i++) {
      const d = dy[i];
      const v = x[i];
      gc += d;
      gb += d * v;
      ga += d * v * v;
    }
    const g = this.coeffs.grad;
    g[0] += gc;
    g[1] += gb;
    g[2] += ga;
    if (!needInputGrad) return new Float32Array(0);
    const dx = (this._dx = ensure(this._dx, dy.length));
    for (let i = 0; i < dy.length; i++) dx[i] = (2 * a * x[i] + b) * dy[i];
    return dx;
  }
}

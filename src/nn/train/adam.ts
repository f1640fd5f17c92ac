import type { Param } from './layer.ts';

/**
 * Options of {@link Adam}; `weightDecay` is decoupled (AdamW) and skipped for params marked
 * `decay: false` (biases, poly coefficients, BatchNorm γ/β).
 */
export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

/**
 * Adam / AdamW optimizer over a fixed parameter list.
 *
 * @example
 * ```ts
 * const opt = new Adam(net.params(), { lr: 1e-3 }); net.zeroGrad(); …backward…; opt.step();
 * ```
 */
export class Adam {
  lr: number;
  private readonly _params: Param[];
  private readonly _m: Float32Array[];
  private readonly _v: Float32Array[];
  private readonly _b1: number;
  private readonly _b2: number;
  private readonly _eps: number;
  private readonly _wd: number;
  private _t = 0;
  constructor(params: Param[], opts: AdamOptions) {
    this._params = params;
    this.lr = opts.lr;
    this._b1 = opts.beta1 ?? 0.9;
    this._b2 = opts.beta2 ?? 0.999;
    this._eps = opts.eps ?? 1e-8;
    this._wd = opts.weightDecay ?? 0;
    this._m = params.map((p) => new Float32Array(p.value.length));
    this._v = params.map((p) => new Float32Array(p.value.length));
  }
  step(): void {
    this._t++;
    const c1 = 1 - this._b1 ** this._t;
    const c2 = 1 - this._b2 ** this._t;
    const b1 = this._b1;
    const b2 = this._b2;
    for (let i = 0; i < this._params.length; i++) {
      const { value, grad, decay: decays } = this._params[i];
      const m = this._m[i];
      const v = this._v[i];
      const decay = decays === false ? 0 : this.lr * this._wd;
      for (let j = 0; j < value.length; j++) {
        const g = grad[j];
        m[j] = b1 * m[j] + (1 - b1) * g;
        v[j] = b2 * v[j] + (1 - b2) * g * g;
        value[j] -= (this.lr * (m[j] / c1)) / (Math.sqrt(v[j] / c2) + this._eps) + decay * value[j];
      }
    }
  }
}

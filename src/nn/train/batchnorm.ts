import { NnError } from '../errors.ts';
import { ensure, type Layer, type LayerConfig, type Param, type StateBuffer } from './layer.ts';

/**
 * Batch normalization over the channels of `[C, H, W]` (statistics over batch × H × W) or the
 * features of `[C]` (over the batch): `y = γ·(x − μ)/√(σ² + ε) + β`. Training uses the batch's
 * mean and (biased) variance and moves the running statistics towards them,
 * `r ← (1 − momentum)·r + momentum·batch`, with the unbiased variance (× m/(m − 1)) as in PyTorch;
 * inference uses the running statistics, so the layer is then a fixed per-channel affine map (the
 * CNN IR's `batchnorm`, which the planner folds into the preceding conv/dense).
 * γ/β are `decay: false` (AdamW leaves them alone); the running statistics are float64
 * {@link StateBuffer}s, so checkpoints and best-epoch restores carry them.
 */
export class BatchNorm implements Layer {
  readonly config: Extract<LayerConfig, { type: 'batchnorm' }>;
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  readonly gamma: Param;
  readonly beta: Param;
  readonly runningMean: Float64Array;
  readonly runningVar: Float64Array;
  readonly momentum: number;
  readonly epsilon: number;
  private readonly _name: string;
  private readonly _invStd: Float64Array;
  private _xhat: Float32Array | undefined;
  private _y: Float32Array | undefined;
  private _dx: Float32Array | undefined;

  constructor(name: string, inShape: readonly number[], config: Extract<LayerConfig, { type: 'batchnorm' }>) {
    const momentum = config.momentum ?? 0.1;
    const epsilon = config.epsilon ?? 1e-5;
    if (
      !(inShape.length === 1 || inShape.length === 3) ||
      !inShape.every((d) => Number.isInteger(d) && d >= 1)
    )
      throw new NnError(
        'NN_SHAPE_MISMATCH',
        `BatchNorm(${name}): input shape [${inShape}] is not [C, H, W] or [C]`,
      );
    if (!(momentum > 0 && momentum <= 1) || !(epsilon > 0))
      throw new NnError(
        'NN_INVALID_ARGUMENT',
        `BatchNorm(${name}): momentum ${momentum} must be in (0, 1] and epsilon ${epsilon} > 0`,
      );
    this.config = config;
    this.inShape = inShape;
    this.outShape = inShape;
    this.momentum = momentum;
    this.epsilon = epsilon;
    this._name = name;
    const c = inShape[0];
    this.gamma = {
      name: `${name}.gamma`,
      value: new Float32Array(c).fill(1),
      grad: new Float32Array(c),
      decay: false,
    };
    this.beta = { name: `${name}.beta`, value: new Float32Array(c), grad: new Float32Array(c), decay: false };
    this.runningMean = new Float64Array(c);
    this.runningVar = new Float64Array(c).fill(1);
    this._invStd = new Float64Array(c);
  }

  params(): Param[] {
    return [this.gamma, this.beta];
  }

  buffers(): StateBuffer[] {
    return [
      { name: `${this._name}.running_mean`, value: this.runningMean },
      { name: `${this._name}.running_var`, value: this.runningVar },
    ];
  }

  forward(x: Float32Array, batch: number, training: boolean): Float32Array {
    const c = this.inShape[0];
    const hw = this.inShape.length === 3 ? this.inShape[1] * this.inShape[2] : 1;
    const y = (this._y = ensure(this._y, x.length));
    const xhat = training ? (this._xhat = ensure(this._xhat, x.length)) : undefined;
    const m = batch * hw;
    for (let ch = 0; ch < c; ch++) {
      let mean: number;
      let variance: number;
      if (training) {
        // Two passes in float64: the mean, then the mean squared deviation (no E[x²] − E[x]² cancellation).
        let s = 0;
        for (let b = 0; b < batch; b++) {
          const base = (b * c + ch) * hw;
          for (let j = 0; j < hw; j++) s += x[base + j];
        }
        mean = s / m;
        let s2 = 0;
        for (let b = 0; b < batch; b++) {
          const base = (b * c + ch) * hw;
          for (let j = 0; j < hw; j++) {
            const d = x[base + j] - mean;
            s2 += d * d;
          }
        }
        variance = s2 / m;
        const k = this.momentum;
        this.runningMean[ch] = (1 - k) * this.runningMean[ch] + k * mean;
        this.runningVar[ch] = (1 - k) * this.runningVar[ch] + k * variance * (m / Math.max(1, m - 1));
      } else {
        mean = this.runningMean[ch];
        variance = this.runningVar[ch];
      }
      const inv = 1 / Math.sqrt(variance + this.epsilon);
      const g = this.gamma.value[ch];
      const bt = this.beta.value[ch];
      if (training) this._invStd[ch] = inv;
      for (let b = 0; b < batch; b++) {
        const base = (b * c + ch) * hw;
        for (let j = 0; j < hw; j++) {
          const xh = (x[base + j] - mean) * inv;
          if (xhat !== undefined) xhat[base + j] = xh;
          y[base + j] = g * xh + bt;
        }
      }
    }
    return y;
  }

  /** Gradient of the training-mode forward (batch statistics depend on every input of the channel). */
  backward(dy: Float32Array, batch: number, needInputGrad: boolean): Float32Array {
    const xhat = this._xhat;
    if (xhat === undefined || xhat.length !== dy.length)
      throw new NnError(
        'NN_INVALID_ARGUMENT',
        `BatchNorm(${this._name}).backward: no matching training forward`,
      );
    const c = this.inShape[0];
    const hw = this.inShape.length === 3 ? this.inShape[1] * this.inShape[2] : 1;
    const dx = needInputGrad ? (this._dx = ensure(this._dx, dy.length)) : new Float32Array(0);
    const m = batch * hw;
    for (let ch = 0; ch < c; ch++) {
      let sdy = 0;
      let sdyx = 0;
      for (let b = 0; b < batch; b++) {
        const base = (b * c + ch) * hw;
        for (let j = 0; j < hw; j++) {
          sdy += dy[base + j];
          sdyx += dy[base + j] * xhat[base + j];
        }
      }
      this.gamma.grad[ch] += sdyx;
      this.beta.grad[ch] += sdy;
      if (!needInputGrad) continue;
      // dx = γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂))
      const k = (this.gamma.value[ch] * this._invStd[ch]) / m;
      for (let b = 0; b < batch; b++) {
        const base = (b * c + ch) * hw;
        for (let j = 0; j < hw; j++) dx[base + j] = k * (m * dy[base + j] - sdy - xhat[base + j] * sdyx);
      }
    }
    return dx;
  }
}

import { NnError } from '../errors.ts';
import { BatchNorm } from './batchnorm.ts';
import { Conv2d } from './conv2d.ts';
import { Dense } from './dense.ts';
import { Flatten, Relu, Square } from './elementwise.ts';
import type { Layer, LayerConfig, Param, StateBuffer } from './layer.ts';
import { Poly2 } from './poly.ts';
import { AvgPool2d, GlobalAvgPool, MaxPool2d } from './pool.ts';
import type { Rng } from './rng.ts';

/** Copies of a network's parameters and non-trainable buffers, in {@link Sequential} order. */
export interface NetSnapshot {
  readonly params: readonly Float32Array[];
  readonly buffers: readonly (Float32Array | Float64Array)[];
}

/**
 * A feed-forward stack of layers built from serializable configs.
 *
 * @example
 * ```ts
 * const net = new Sequential([1, 28, 28], [{ type: 'conv2d', outChannels: 8, kernel: 3, stride: 1, padding: 1 },
 *   { type: 'relu' }, { type: 'gap' }, { type: 'dense', units: 2 }], new Rng(1));
 * const logits = net.forward(batchPixels, batchSize, false);
 * ```
 */
export class Sequential {
  readonly layers: Layer[];
  readonly inShape: readonly number[];
  constructor(inShape: readonly number[], configs: readonly LayerConfig[], rng: Rng, namePrefix = 'l') {
    this.inShape = inShape;
    this.layers = [];
    let shape = inShape;
    configs.forEach((c, i) => {
      const name = `${namePrefix}${i}`;
      let layer: Layer;
      switch (c.type) {
        case 'conv2d':
          layer = new Conv2d(name, shape, c, rng);
          break;
        case 'dense':
          layer = new Dense(name, shape, c, rng);
          break;
        case 'relu':
          layer = new Relu(shape);
          break;
        case 'square':
          layer = new Square(shape);
          break;
        case 'poly':
          layer = new Poly2(name, shape, c);
          break;
        case 'flatten':
          layer = new Flatten(shape);
          break;
        case 'maxpool':
          layer = new MaxPool2d(shape, c);
          break;
        case 'avgpool':
          layer = new AvgPool2d(shape, c);
          break;
        case 'gap':
          layer = new GlobalAvgPool(shape);
          break;
        case 'batchnorm':
          layer = new BatchNorm(name, shape, c);
          break;
        default:
          throw new NnError('NN_INVALID_ARGUMENT', `Sequential: unknown layer ${JSON.stringify(c)}`);
      }
      this.layers.push(layer);
      shape = layer.outShape;
    });
  }
  get outShape(): readonly number[] {
    return this.layers.length === 0 ? this.inShape : this.layers[this.layers.length - 1].outShape;
  }
  get configs(): LayerConfig[] {
    return this.layers.map((l) => l.config);
  }
  forward(x: Float32Array, batch: number, training: boolean): Float32Array {
    let h = x;
    for (const l of this.layers) h = l.forward(h, batch, training);
    return h;
  }
  /** Backpropagates `dy`; the first layer's input gradient is skipped unless `needInputGrad`. */
  backward(dy: Float32Array, batch: number, needInputGrad = false): Float32Array {
    let g = dy;
    for (let i = this.layers.length - 1; i >= 0; i--)
      g = this.layers[i].backward(g, batch, i > 0 || needInputGrad);
    return g;
  }
  params(): Param[] {
    return this.layers.flatMap((l) => l.params());
  }
  /** Non-trainable state (BatchNorm running statistics), saved and restored with the parameters. */
  buffers(): StateBuffer[] {
    return this.layers.flatMap((l) => l.buffers?.() ?? []);
  }
  zeroGrad(): void {
    for (const p of this.params()) p.grad.fill(0);
  }
  /** Copies of all parameter values and buffers (for keeping the best epoch). */
  snapshot(): NetSnapshot {
    return {
      params: this.params().map((p) => p.value.slice()),
      buffers: this.buffers().map((b) => b.value.slice()),
    };
  }
  restore(state: NetSnapshot): void {
    const ps = this.params();
    const bs = this.buffers();
    if (state.params.length !== ps.length || state.buffers.length !== bs.length)
      throw new NnError(
        'NN_SHAPE_MISMATCH',
        `Sequential.restore: ${state.params.length} params / ${state.buffers.length} buffers for a network with ${ps.length} / ${bs.length}`,
      );
    ps.forEach((p, i) => {
      if (state.params[i].length !== p.value.length)
        throw new NnError('NN_SHAPE_MISMATCH', `Sequential.restore: ${p.name} size differs`);
    });
    bs.forEach((b, i) => {
      if (state.buffers[i].length !== b.value.length)
        throw new NnError('NN_SHAPE_MISMATCH', `Sequential.restore: ${b.name} size differs`);
    });
    for (const [i, p] of ps.entries()) p.value.set(state.params[i]);
    for (const [i, b] of bs.entries()) b.value.set(state.buffers[i]);
  }
}

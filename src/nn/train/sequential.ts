import { NnError } from '../errors.ts';
import { Conv2d } from './conv2d.ts';
import { Dense } from './dense.ts';
import { Flatten, Relu, Square } from './elementwise.ts';
import type { Layer, LayerConfig, Param } from './layer.ts';
import { Poly2 } from './poly.ts';
import { AvgPool2d, GlobalAvgPool, MaxPool2d } from './pool.ts';
import type { Rng } from './rng.ts';

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
  zeroGrad(): void {
    for (const p of this.params()) p.grad.fill(0);
  }
  /** Copies of all parameter values (for keeping the best epoch). */
  snapshot(): Float32Array[] {
    return this.params().map((p) => p.value.slice());
  }
  restore(values: readonly Float32Array[]): void {
    const ps = this.params();
    if (values.length !== ps.length)
      throw new NnError('NN_SHAPE_MISMATCH', 'Sequential.restore: count differs');
    for (let i = 0; i < ps.length; i++) ps[i].value.set(values[i]);
  }
}

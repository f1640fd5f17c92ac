// Trains a two-convolution HE-friendly MNIST network with the project's float32 training library
// (src/nn/train) and writes models/mnist-2conv/model.json (the CNN IR). Heavy: run by hand.
//
//   node src/nn/cnn/train-2conv-mnist.node.ts [--epochs 4] [--seed 1] [--out models/mnist-2conv]
//
// conv 1→4, 7×7, stride 3 → x² → conv 4→8, 3×3, pad 1 → x² → avgpool 2×2 → flatten → dense 128→10.
// Under encryption: im2col conv, square, conv-as-BSGS-diagonals, square, fused avgpool+dense.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadIdxDataset } from '../data/idx.node.ts';
import type { Conv2d } from '../train/conv2d.ts';
import type { Dense } from '../train/dense.ts';
import { fit, type TensorData } from '../train/fit.ts';
import { ensure, type Layer, type LayerConfig, type Param } from '../train/layer.ts';
import { Rng } from '../train/rng.ts';
import { Sequential } from '../train/sequential.ts';
import type { CnnLayer, CnnModel } from './ir.ts';
import { preprocessImage, referenceForward } from './reference.ts';

const MEAN = 0.1307;
const STD = 0.3081;

/** x² as a training layer (the training library has ReLU only; this swaps in for it). */
class Square implements Layer {
  // The library's config union has no square; this layer is never exported through it.
  readonly config = { type: 'square' } as unknown as LayerConfig;
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  #x: Float32Array | undefined;
  #y: Float32Array | undefined;
  #dx: Float32Array | undefined;
  constructor(shape: readonly number[]) {
    this.inShape = shape;
    this.outShape = shape;
  }
  params(): Param[] {
    return [];
  }
  forward(x: Float32Array): Float32Array {
    this.#x = ensure(this.#x, x.length);
    this.#x.set(x);
    const y = (this.#y = ensure(this.#y, x.length));
    for (let i = 0; i < x.length; i++) y[i] = x[i] * x[i];
    return y;
  }
  backward(dy: Float32Array, _b: number, needInputGrad: boolean): Float32Array {
    if (!needInputGrad) return new Float32Array(0);
    const dx = (this.#dx = ensure(this.#dx, dy.length));
    for (let i = 0; i < dy.length; i++) dx[i] = 2 * this.#x![i] * dy[i];
    return dx;
  }
}

function tensors(split: 'train' | 'test'): TensorData {
  const d = loadIdxDataset('mnist', split);
  const x = new Float32Array(d.n * 784);
  for (let i = 0; i < x.length; i++) x[i] = (d.images[i] / 255 - MEAN) / STD;
  return { x, labels: d.labels, n: d.n, shape: [1, 28, 28] };
}

function main(): void {
  const { values } = parseArgs({
    options: {
      epochs: { type: 'string', default: '4' },
      seed: { type: 'string', default: '1' },
      out: { type: 'string', default: 'models/mnist-2conv' },
    },
  });
  const seed = Number(values.seed);
  const net = new Sequential(
    [1, 28, 28],
    [
      { type: 'conv2d', outChannels: 4, kernel: 7, stride: 3, padding: 0 },
      { type: 'relu' },
      { type: 'conv2d', outChannels: 8, kernel: 3, stride: 1, padding: 1 },
      { type: 'relu' },
      { type: 'avgpool', kernel: 2, stride: 2 },
      { type: 'flatten' },
      { type: 'dense', units: 10 },
    ],
    new Rng(seed),
  );
  // He init is for ReLU; x² networks train stably with smaller weights.
  for (const p of net.params()) for (let i = 0; i < p.value.length; i++) p.value[i] *= 0.5;
  net.layers[1] = new Square(net.layers[1].inShape);
  net.layers[3] = new Square(net.layers[3].inShape);
  const train = tensors('train');
  const test = tensors('test');
  const result = fit(net, train, test, {
    epochs: Number(values.epochs),
    batchSize: 64,
    lr: 1e-3,
    seed,
    outputs: 10,
    select: 'accuracy',
    onEpoch: (r) =>
      console.log(
        `epoch ${r.epoch}/${r.epochs}: train loss ${r.trainLoss.toFixed(4)} test acc ${(100 * r.val.accuracy).toFixed(2)}% (${r.seconds.toFixed(1)} s)`,
      ),
  });
  const f = (a: Float32Array) => Array.from(a, (v) => Number(v.toPrecision(8)));
  const conv = (l: Layer, inChannels: number): CnnLayer => {
    const c = l as Conv2d;
    return {
      op: 'conv2d',
      inChannels,
      outChannels: c.config.outChannels,
      kernel: [c.config.kernel, c.config.kernel],
      stride: [c.config.stride, c.config.stride],
      padding: [c.config.padding, c.config.padding],
      weight: f(c.weight.value),
      bias: f(c.bias.value),
    };
  };
  const dense = net.layers[6] as Dense;
  const model: CnnModel = {
    format: 'blinddx-cnn',
    version: 1,
    name: 'mnist-2conv',
    inputShape: [1, 28, 28],
    preprocessing: { scale: 1 / 255, mean: [MEAN], std: [STD] },
    layers: [
      conv(net.layers[0], 1),
      { op: 'poly', coeffs: [0, 0, 1] },
      conv(net.layers[2], 4),
      { op: 'poly', coeffs: [0, 0, 1] },
      { op: 'avgpool2d', kernel: [2, 2], stride: [2, 2], padding: [0, 0] },
      { op: 'flatten' },
      {
        op: 'dense',
        inFeatures: 128,
        outFeatures: 10,
        weight: f(dense.weight.value),
        bias: f(dense.bias.value),
      },
    ],
    classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  };
  const raw = loadIdxDataset('mnist', 'test');
  let ok = 0;
  for (let i = 0; i < raw.n; i++) {
    const y = referenceForward(model, preprocessImage(model, raw.images.subarray(i * 784, (i + 1) * 784)));
    let k = 0;
    for (let o = 1; o < 10; o++) if (y[o] > y[k]) k = o;
    if (k === raw.labels[i]) ok++;
  }
  const out = resolve(values.out!);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'model.json'), `${JSON.stringify(model)}\n`);
  writeFileSync(
    join(out, 'training.json'),
    `${JSON.stringify({ seed, epochs: Number(values.epochs), bestEpoch: result.bestEpoch, optimizer: 'adam lr 1e-3 cosine, batch 64 (src/nn/train fit)', testAccuracy: ok / raw.n, testImages: raw.n }, null, 2)}\n`,
  );
  console.log(
    `saved ${join(out, 'model.json')}: reference test accuracy ${((100 * ok) / raw.n).toFixed(2)}%`,
  );
}

main();

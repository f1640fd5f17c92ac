// Trains the TenSEAL tutorial network on MNIST in float64 TypeScript with a fixed seed and writes
// models/mnist-tenseal/model.json (the CNN IR). Heavy (≈1–2 min per epoch on one core): run by
// hand, never from `npm test`.
//
//   node src/nn/cnn/train-tenseal-mnist.node.ts [--epochs 8] [--seed 1] [--out models/mnist-tenseal]
//        [--dataset mnist|fashion-mnist|kmnist|pneumoniamnist|breastmnist]   (KMNIST: loadKmnistSplit)   (same net and normalization
//        constants; MedMNIST: K classes, inverse-frequency class weights, official train/test split)
//
// Network (TenSEAL "Encrypted evaluation" tutorial): conv 1→4, 7×7, stride 3 → x² → flatten →
// dense 256→64 → x² → dense 64→10, softmax cross-entropy, Adam (lr 1e-3), batch 64.
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadIdxDataset } from '../data/idx.node.ts';
import { loadKmnistSplit } from '../data/kmnist-split.node.ts';
import { loadMedMnist, MEDMNIST_CLASSES, type MedMnistName } from '../data/medmnist.node.ts';
import type { CnnModel } from './ir.ts';
import { referenceForward } from './reference.ts';

const MEAN = 0.1307;
const STD = 0.3081;

/** mulberry32: small, seedable, good enough for init and shuffling. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Adam {
  readonly m: Float64Array;
  readonly v: Float64Array;
  readonly p: Float64Array;
  readonly lr: number;
  t = 0;
  constructor(p: Float64Array, lr: number) {
    this.p = p;
    this.lr = lr;
    this.m = new Float64Array(p.length);
    this.v = new Float64Array(p.length);
  }
  step(g: Float64Array, scale: number): void {
    this.t++;
    const b1 = 0.9;
    const b2 = 0.999;
    const c1 = 1 - b1 ** this.t;
    const c2 = 1 - b2 ** this.t;
    for (let i = 0; i < g.length; i++) {
      const gi = g[i] * scale;
      this.m[i] = b1 * this.m[i] + (1 - b1) * gi;
      this.v[i] = b2 * this.v[i] + (1 - b2) * gi * gi;
      this.p[i] -= (this.lr * (this.m[i] / c1)) / (Math.sqrt(this.v[i] / c2) + 1e-8);
    }
  }
}

function main(): void {
  const { values } = parseArgs({
    options: {
      epochs: { type: 'string', default: '8' },
      seed: { type: 'string', default: '1' },
      out: { type: 'string', default: 'models/mnist-tenseal' },
      limit: { type: 'string' },
      dataset: { type: 'string', default: 'mnist' },
    },
  });
  const epochs = Number(values.epochs);
  const rand = mulberry32(Number(values.seed));
  const dataset = values.dataset as 'mnist' | 'fashion-mnist' | 'kmnist' | MedMnistName;
  const med = dataset === 'pneumoniamnist' || dataset === 'breastmnist';
  if (dataset !== 'mnist' && dataset !== 'fashion-mnist' && dataset !== 'kmnist' && !med)
    throw new Error('--dataset: mnist, fashion-mnist, pneumoniamnist or breastmnist');
  const train = med
    ? loadMedMnist(dataset, 'train')
    : dataset === 'kmnist'
      ? loadKmnistSplit('train')
      : loadIdxDataset(dataset, 'train');
  const test = med
    ? loadMedMnist(dataset, 'test')
    : dataset === 'kmnist'
      ? loadKmnistSplit('test')
      : loadIdxDataset(dataset, 'test');
  const K = med ? MEDMNIST_CLASSES[dataset].length : 10;
  // Class weighting for imbalanced sets (MedMNIST): inverse class frequency, mean weight 1.
  const counts = new Array<number>(K).fill(0);
  for (let i = 0; i < train.n; i++) counts[train.labels[i]]++;
  const cw = counts.map((c) => (med ? train.n / (K * Math.max(1, c)) : 1));
  const nTrain = values.limit ? Math.min(Number(values.limit), train.n) : train.n;
  const norm = (img: Uint8Array | Float32Array, i: number, out: Float64Array) => {
    for (let k = 0; k < 784; k++) out[k] = (img[i * 784 + k] / 255 - MEAN) / STD;
  };

  // Parameters, PyTorch-default uniform(±1/√fan_in) init.
  const uni = (n: number, fanIn: number) =>
    Float64Array.from({ length: n }, () => (rand() * 2 - 1) / Math.sqrt(fanIn));
  const Wc = uni(4 * 49, 49);
  const bc = uni(4, 49);
  const W1 = uni(64 * 256, 256);
  const b1 = uni(64, 256);
  const W2 = uni(K * 64, 64);
  const b2 = uni(K, 64);
  const params = [Wc, bc, W1, b1, W2, b2];
  const grads = params.map((p) => new Float64Array(p.length));
  const opts = params.map((p) => new Adam(p, 1e-3));
  const [gWc, gbc, gW1, gb1, gW2, gb2] = grads;

  const x = new Float64Array(784);
  const conv = new Float64Array(256);
  const a1 = new Float64Array(256);
  const h = new Float64Array(64);
  const a2 = new Float64Array(64);
  const z = new Float64Array(K);
  const dz = new Float64Array(K);
  const da2 = new Float64Array(64);
  const dh = new Float64Array(64);
  const da1 = new Float64Array(256);

  const forward = () => {
    for (let c = 0; c < 4; c++)
      for (let i = 0; i < 8; i++)
        for (let j = 0; j < 8; j++) {
          let acc = bc[c];
          for (let u = 0; u < 7; u++)
            for (let v = 0; v < 7; v++) acc += Wc[c * 49 + u * 7 + v] * x[(3 * i + u) * 28 + 3 * j + v];
          conv[c * 64 + i * 8 + j] = acc;
          a1[c * 64 + i * 8 + j] = acc * acc;
        }
    for (let o = 0; o < 64; o++) {
      let acc = b1[o];
      for (let k = 0; k < 256; k++) acc += W1[o * 256 + k] * a1[k];
      h[o] = acc;
      a2[o] = acc * acc;
    }
    for (let o = 0; o < K; o++) {
      let acc = b2[o];
      for (let k = 0; k < 64; k++) acc += W2[o * 64 + k] * a2[k];
      z[o] = acc;
    }
  };

  const order = Array.from({ length: nTrain }, (_, i) => i);
  const batch = 64;
  for (let epoch = 0; epoch < epochs; epoch++) {
    const t0 = Date.now();
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    let loss = 0;
    let correct = 0;
    for (let start = 0; start < nTrain; start += batch) {
      for (const g of grads) g.fill(0);
      const end = Math.min(nTrain, start + batch);
      for (let s = start; s < end; s++) {
        const idx = order[s];
        norm(train.images, idx, x);
        forward();
        const label = train.labels[idx];
        let max = -Infinity;
        let arg = 0;
        for (let o = 0; o < K; o++) if (z[o] > max) [max, arg] = [z[o], o];
        if (arg === label) correct++;
        let sum = 0;
        for (let o = 0; o < K; o++) sum += Math.exp(z[o] - max);
        loss += cw[label] * (Math.log(sum) + max - z[label]);
        for (let o = 0; o < K; o++) dz[o] = cw[label] * (Math.exp(z[o] - max) / sum - (o === label ? 1 : 0));
        da2.fill(0);
        for (let o = 0; o < K; o++) {
          gb2[o] += dz[o];
          for (let k = 0; k < 64; k++) {
            gW2[o * 64 + k] += dz[o] * a2[k];
            da2[k] += W2[o * 64 + k] * dz[o];
          }
        }
        for (let k = 0; k < 64; k++) dh[k] = 2 * h[k] * da2[k];
        da1.fill(0);
        for (let o = 0; o < 64; o++) {
          const d = dh[o];
          gb1[o] += d;
          for (let k = 0; k < 256; k++) {
            gW1[o * 256 + k] += d * a1[k];
            da1[k] += W1[o * 256 + k] * d;
          }
        }
        for (let c = 0; c < 4; c++)
          for (let p = 0; p < 64; p++) {
            const d = 2 * conv[c * 64 + p] * da1[c * 64 + p];
            gbc[c] += d;
            const i = p >> 3;
            const j = p & 7;
            for (let u = 0; u < 7; u++)
              for (let v = 0; v < 7; v++) gWc[c * 49 + u * 7 + v] += d * x[(3 * i + u) * 28 + 3 * j + v];
          }
      }
      const scale = 1 / (end - start);
      opts.forEach((o, k) => {
        o.step(grads[k], scale);
      });
    }
    let testCorrect = 0;
    for (let i = 0; i < test.n; i++) {
      norm(test.images, i, x);
      forward();
      let arg = 0;
      for (let o = 1; o < K; o++) if (z[o] > z[arg]) arg = o;
      if (arg === test.labels[i]) testCorrect++;
    }
    console.log(
      `epoch ${epoch + 1}/${epochs}: loss ${(loss / nTrain).toFixed(4)} train acc ${((100 * correct) / nTrain).toFixed(2)}% test acc ${((100 * testCorrect) / test.n).toFixed(2)}% (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
    );
  }

  const round = (a: Float64Array) => Array.from(a, (v) => Number(v.toPrecision(8)));
  const model: CnnModel = {
    format: 'blinddx-cnn',
    version: 1,
    name: basename(resolve(values.out!)),
    inputShape: [1, 28, 28],
    preprocessing: { scale: 1 / 255, mean: [MEAN], std: [STD] },
    layers: [
      {
        op: 'conv2d',
        inChannels: 1,
        outChannels: 4,
        kernel: [7, 7],
        stride: [3, 3],
        padding: [0, 0],
        weight: round(Wc),
        bias: round(bc),
      },
      { op: 'poly', coeffs: [0, 0, 1] },
      { op: 'flatten' },
      { op: 'dense', inFeatures: 256, outFeatures: 64, weight: round(W1), bias: round(b1) },
      { op: 'poly', coeffs: [0, 0, 1] },
      { op: 'dense', inFeatures: 64, outFeatures: K, weight: round(W2), bias: round(b2) },
    ],
    classes: med
      ? [...MEDMNIST_CLASSES[dataset]]
      : dataset === 'mnist'
        ? ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']
        : ['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'boot'],
  };
  // Accuracy of the rounded, saved weights through the IR reference (what every executor checks against).
  let ok = 0;
  const px = new Float64Array(784);
  for (let i = 0; i < test.n; i++) {
    norm(test.images, i, px);
    const y = referenceForward(model, px);
    let arg = 0;
    for (let o = 1; o < K; o++) if (y[o] > y[arg]) arg = o;
    if (arg === test.labels[i]) ok++;
  }
  const out = resolve(values.out!);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'model.json'), `${JSON.stringify(model)}\n`);
  writeFileSync(
    join(out, 'training.json'),
    `${JSON.stringify({ dataset, seed: Number(values.seed), epochs, trainImages: nTrain, batch, optimizer: 'adam lr 1e-3', testAccuracy: ok / test.n, testImages: test.n }, null, 2)}\n`,
  );
  console.log(
    `saved ${join(out, 'model.json')}: reference test accuracy ${((100 * ok) / test.n).toFixed(2)}%`,
  );
}

main();

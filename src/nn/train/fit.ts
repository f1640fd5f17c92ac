import { NnError } from '../errors.ts';
import { argmax, softmax } from '../logits.ts';
import { Adam } from './adam.ts';
import { type AugmentOptions, augmentInto } from './augment.ts';
import { sizeOf } from './layer.ts';
import { sigmoidBce, softmaxCe } from './loss.ts';
import { accuracy, balancedAccuracy, macroAuc } from './metrics.ts';
import { Rng } from './rng.ts';
import type { NetSnapshot, Sequential } from './sequential.ts';

/** Normalised samples `[N, C, H, W]` with their labels. */
export interface TensorData {
  readonly x: Float32Array;
  readonly labels: Uint8Array;
  readonly n: number;
  readonly shape: readonly number[];
}

/** Metrics of one evaluation pass. */
export interface EvalMetrics {
  loss: number;
  accuracy: number;
  auc: number;
  /** Mean per-class recall over the classes present in the labels. */
  balancedAccuracy: number;
}

/** What {@link fit} reports after every batch (for progress bars). */
export interface BatchReport {
  epoch: number;
  batch: number;
  batches: number;
  loss: number;
}

/** What {@link fit} reports after every epoch. */
export interface EpochReport {
  epoch: number;
  epochs: number;
  trainLoss: number;
  val: EvalMetrics;
  lr: number;
  seconds: number;
  isBest: boolean;
}

/** Training options. `outputs` = 1 means one logit with sigmoid BCE; otherwise softmax CE over K logits. */
export interface FitOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay?: number;
  seed: number;
  outputs: number;
  classWeights?: number[];
  augment?: AugmentOptions;
  /**
   * Which validation metric picks the kept epoch; `'last'` keeps the final epoch (used when there is
   * no validation split: the test split never picks epochs).
   */
  select?: 'auc' | 'accuracy' | 'balanced-accuracy' | 'loss' | 'last';
  /** Stop after this many epochs without improvement (default: never). */
  patience?: number;
  onBatch?: (r: BatchReport) => void;
  onEpoch?: (r: EpochReport) => void;
}

/** Outcome of {@link fit}: the network holds the weights and buffers of `bestEpoch` on return. */
export interface FitResult {
  bestEpoch: number;
  bestVal: EvalMetrics;
  history: EpochReport[];
  seconds: number;
}

/** Runs the network over `data` in inference mode and returns its logits `[N, outputs]`. */
export function predictLogits(net: Sequential, data: TensorData, batchSize = 256): Float32Array {
  const per = sizeOf(data.shape);
  const k = sizeOf(net.outShape);
  const out = new Float32Array(data.n * k);
  for (let s = 0; s < data.n; s += batchSize) {
    const b = Math.min(batchSize, data.n - s);
    const y = net.forward(data.x.subarray(s * per, (s + b) * per), b, false);
    out.set(y.subarray(0, b * k), s * k);
  }
  return out;
}

/** Probabilities from logits: sigmoid for one output, softmax otherwise. */
export function logitsToProbs(logits: Float32Array, outputs: number): Float64Array {
  const p = new Float64Array(logits.length);
  if (outputs === 1) {
    for (let i = 0; i < logits.length; i++) p[i] = 1 / (1 + Math.exp(-logits[i]));
    return p;
  }
  for (let o = 0; o < logits.length; o += outputs) p.set(softmax(logits.subarray(o, o + outputs)), o);
  return p;
}

/** Predicted class per sample (threshold 0.5 for a single sigmoid output, argmax otherwise). */
export function predictClasses(probs: Float64Array, outputs: number): Uint8Array {
  if (outputs === 1) return Uint8Array.from(probs, (p) => (p >= 0.5 ? 1 : 0));
  const n = probs.length / outputs;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = argmax(probs.subarray(i * outputs, (i + 1) * outputs));
  return out;
}

function lossOf(logits: Float32Array, labels: Uint8Array, opts: FitOptions) {
  return opts.outputs === 1
    ? sigmoidBce(logits, labels, opts.classWeights)
    : softmaxCe(logits, labels, opts.outputs, opts.classWeights);
}

/** Loss, accuracy and AUC of the network on `data`. */
export function evaluate(
  net: Sequential,
  data: TensorData,
  opts: Pick<FitOptions, 'outputs' | 'classWeights'>,
): EvalMetrics {
  if (data.n === 0)
    return { loss: Number.NaN, accuracy: Number.NaN, auc: Number.NaN, balancedAccuracy: Number.NaN };
  const logits = predictLogits(net, data);
  const probs = logitsToProbs(logits, opts.outputs);
  const predicted = predictClasses(probs, opts.outputs);
  const loss =
    opts.outputs === 1
      ? sigmoidBce(logits, data.labels, opts.classWeights).loss
      : softmaxCe(logits, data.labels, opts.outputs, opts.classWeights).loss;
  return {
    loss,
    accuracy: accuracy(predicted, data.labels),
    auc: macroAuc(probs, data.labels, opts.outputs),
    balancedAccuracy: balancedAccuracy(predicted, data.labels),
  };
}

/**
 * Mini-batch training with Adam, cosine learning-rate decay, optional augmentation, and model
 * selection on the validation set (the best epoch's parameters and buffers — BatchNorm running
 * statistics — are restored at the end).
 * Deterministic for a given seed. Without a validation set (`val` undefined or empty) the last epoch
 * is kept whatever `select` says.
 */
export function fit(
  net: Sequential,
  train: TensorData,
  val: TensorData | undefined,
  opts: FitOptions,
): FitResult {
  if (!(opts.epochs >= 1) || !(opts.batchSize >= 1) || !(opts.lr > 0)) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `fit: bad epochs/batchSize/lr ${opts.epochs}/${opts.batchSize}/${opts.lr}`,
    );
  }
  const rng = new Rng(opts.seed ^ 0x5bd1e995);
  const optim = new Adam(net.params(), { lr: opts.lr, weightDecay: opts.weightDecay ?? 0 });
  const per = sizeOf(train.shape);
  const order = Uint32Array.from({ length: train.n }, (_, i) => i);
  const xb = new Float32Array(opts.batchSize * per);
  const yb = new Uint8Array(opts.batchSize);
  const batches = Math.ceil(train.n / opts.batchSize);
  const select = val === undefined || val.n === 0 ? 'last' : (opts.select ?? 'auc');
  const score = (m: EvalMetrics) =>
    select === 'loss'
      ? -m.loss
      : select === 'accuracy'
        ? m.accuracy
        : select === 'balanced-accuracy'
          ? m.balancedAccuracy
          : m.auc;
  const empty: TensorData = { x: new Float32Array(0), labels: new Uint8Array(0), n: 0, shape: train.shape };
  const history: EpochReport[] = [];
  let best: NetSnapshot = net.snapshot();
  let bestEpoch = 0;
  let bestVal: EvalMetrics | undefined;
  const t0 = performance.now();
  for (let epoch = 1; epoch <= opts.epochs; epoch++) {
    const te = performance.now();
    optim.lr = 0.5 * opts.lr * (1 + Math.cos((Math.PI * (epoch - 1)) / opts.epochs));
    rng.shuffle(order);
    let lossSum = 0;
    for (let bi = 0; bi < batches; bi++) {
      const s = bi * opts.batchSize;
      const b = Math.min(opts.batchSize, train.n - s);
      for (let i = 0; i < b; i++) {
        const src = order[s + i];
        yb[i] = train.labels[src];
        if (opts.augment) augmentInto(train.x, src * per, xb, i * per, train.shape, opts.augment, rng);
        else xb.set(train.x.subarray(src * per, (src + 1) * per), i * per);
      }
      const x = xb.subarray(0, b * per);
      net.zeroGrad();
      const logits = net.forward(x, b, true);
      const { loss, grad } = lossOf(logits, yb.subarray(0, b), opts);
      net.backward(grad, b);
      optim.step();
      lossSum += loss * b;
      opts.onBatch?.({ epoch, batch: bi + 1, batches, loss });
    }
    const valM = evaluate(net, val ?? empty, opts);
    const isBest = select === 'last' || bestVal === undefined || score(valM) > score(bestVal);
    if (isBest) {
      best = net.snapshot();
      bestEpoch = epoch;
      bestVal = valM;
    }
    const report: EpochReport = {
      epoch,
      epochs: opts.epochs,
      trainLoss: lossSum / train.n,
      val: valM,
      lr: optim.lr,
      seconds: (performance.now() - te) / 1000,
      isBest,
    };
    history.push(report);
    opts.onEpoch?.(report);
    if (opts.patience !== undefined && epoch - bestEpoch >= opts.patience) break;
  }
  net.restore(best);
  return { bestEpoch, bestVal: bestVal!, history, seconds: (performance.now() - t0) / 1000 };
}

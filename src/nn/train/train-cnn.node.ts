import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CnnModel } from '../cnn/ir.ts';
import { planCnn } from '../cnn/planner.ts';
import { preprocessImage, referenceForward } from '../cnn/reference.ts';
import { classCounts, type ImageDataset, subsetDataset } from '../data/dataset.ts';
import { NnError } from '../errors.ts';
import { argmax, softmax } from '../logits.ts';
import { exportBackboneOnnx } from '../onnx/export-backbone.ts';
import type { AugmentOptions } from './augment.ts';
import {
  type CnnDataSplits,
  type CnnDatasetName,
  loadCnnDataset,
  majorityBaseline,
} from './cnn-data.node.ts';
import { sequentialToCnnModel } from './cnn-export.ts';
import { cnnPreset } from './cnn-presets.ts';
import {
  type BatchReport,
  type EpochReport,
  evaluate,
  type FitOptions,
  fit,
  type TensorData,
} from './fit.ts';
import { sizeOf } from './layer.ts';
import { balancedClassWeights } from './loss.ts';
import { accuracy, balancedAccuracy, macroAuc } from './metrics.ts';
import { Rng } from './rng.ts';
import { Sequential } from './sequential.ts';
import { datasetStats } from './split-model.ts';

/** Options of {@link trainCnn}. Defaults in brackets. */
export interface TrainCnnOptions {
  dataset: CnnDatasetName;
  outDir: string;
  /** Model name in the IR [last segment of outDir]. */
  name?: string;
  /** Preset of `cnn-presets.ts` [tenseal]. */
  arch?: string;
  /** Trainable a·x²+b·x+c instead of x² [false]. */
  poly?: boolean;
  /**
   * BatchNorm between every conv/dense and its activation [false]; exported as IR `batchnorm`
   * (folded by the planner), so no ONNX file is written for such nets.
   */
  batchNorm?: boolean;
  epochs?: number;
  seed?: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  /** Random shift in pixels [0]. */
  maxShift?: number;
  /** Random left–right mirror [false]. */
  flip?: boolean;
  /** Inverse-frequency class weights in the loss [false]. */
  classWeights?: boolean;
  /** Validation metric that picks the epoch where a val split exists [accuracy]. */
  select?: FitOptions['select'];
  /** Train on the first `limit` training images only (tests). */
  limit?: number;
  /** Evaluate on the first `testLimit` test images only (tests). */
  testLimit?: number;
  /** Pre-loaded splits (tests); default {@link loadCnnDataset}. */
  data?: CnnDataSplits;
  /** The command line recorded in training.json. */
  command?: string;
  onBatch?: (r: BatchReport) => void;
  onEpoch?: (r: EpochReport) => void;
  log?: (msg: string) => void;
}

/** Metrics of one split measured through the saved IR (float64 reference). */
export interface CnnSplitMetrics {
  n: number;
  accuracy: number;
  balancedAccuracy: number;
  auc: number;
}

/** What {@link trainCnn} wrote and measured. */
export interface TrainCnnResult {
  model: CnnModel;
  training: Record<string, unknown>;
  files: string[];
  metrics: { val?: CnnSplitMetrics; test: CnnSplitMetrics };
}

function tensor(ds: ImageDataset, mean: number, std: number): TensorData {
  const x = new Float32Array(ds.images.length);
  for (let i = 0; i < x.length; i++) x[i] = (ds.images[i] / 255 - mean) / std;
  return { x, labels: ds.labels, n: ds.n, shape: [ds.channels, ds.height, ds.width] };
}

/**
 * x² nets are sensitive to the initial scale (two squares raise it to the 4th power), so weights are
 * rescaled from the library's He/Glorot normal to PyTorch's default uniform(±1/√fan_in) spread
 * (std 1/√(3·fan_in)), the init the TenSEAL tutorial net trains from.
 */
function torchDefaultScale(net: Sequential): void {
  for (const layer of net.layers) {
    const c = layer.config;
    if (c.type !== 'conv2d' && c.type !== 'dense') continue;
    const w = layer.params()[0].value;
    const units = c.type === 'conv2d' ? c.outChannels : c.units;
    const fanIn = w.length / units;
    let s2 = 0;
    for (const v of w) s2 += v * v;
    const k = 1 / Math.sqrt(3 * fanIn) / Math.sqrt(s2 / w.length);
    for (let i = 0; i < w.length; i++) w[i] *= k;
  }
}

/** Accuracy, balanced accuracy and macro AUC of the IR's float64 reference on `ds`. */
export function measureCnnModel(model: CnnModel, ds: ImageDataset, limit = ds.n): CnnSplitMetrics {
  const n = Math.min(limit, ds.n);
  const k = model.classes?.length ?? 0;
  const size = ds.height * ds.width * ds.channels;
  const pred = new Uint8Array(n);
  const probs: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = referenceForward(model, preprocessImage(model, ds.images.subarray(i * size, (i + 1) * size)));
    pred[i] = argmax(y);
    for (const v of softmax(y)) probs.push(v);
    if (k !== 0 && y.length !== k)
      throw new NnError('NN_SHAPE_MISMATCH', `measureCnnModel: ${y.length} logits for ${k} classes`);
  }
  const labels = ds.labels.subarray(0, n);
  return {
    n,
    accuracy: accuracy(pred, labels),
    balancedAccuracy: balancedAccuracy(pred, labels),
    auc: macroAuc(probs, labels, probs.length / Math.max(1, n)),
  };
}

/**
 * Trains an HE-friendly CNN (a preset of `cnn-presets.ts`) with the `src/nn/train` library: Adam
 * with cosine decay and optional AdamW decay, seeded init/shuffle/augmentation (same seed → same
 * model), optional BatchNorm, optional class weights, epoch selection on the validation split where one exists (else the
 * last epoch). Writes `<outDir>/model.json` (CNN IR), `model.onnx` (when every activation is x²,
 * the form `onnx-import.ts` reads), `training.json` (options, split, metrics via the IR reference,
 * plan statistics) and `training.log` (one line per epoch).
 */
export function trainCnn(opts: TrainCnnOptions): TrainCnnResult {
  const arch = opts.arch ?? 'tenseal';
  const epochs = opts.epochs ?? 10;
  const seed = opts.seed ?? 1;
  const batchSize = opts.batchSize ?? 64;
  const lr = opts.lr ?? 2e-3;
  const weightDecay = opts.weightDecay ?? 0;
  const augment: AugmentOptions = { maxShift: opts.maxShift ?? 0, flip: opts.flip ?? false };
  for (const [k, v] of Object.entries({ epochs, seed, batchSize, maxShift: augment.maxShift })) {
    if (!Number.isInteger(v) || v < (k === 'seed' || k === 'maxShift' ? 0 : 1)) {
      throw new NnError('NN_INVALID_ARGUMENT', `trainCnn: ${k} must be a positive integer, got ${v}`);
    }
  }
  if (!(lr > 0 && lr < 1)) throw new NnError('NN_INVALID_ARGUMENT', `trainCnn: lr ${lr} not in (0, 1)`);
  const log = opts.log ?? (() => {});
  const lines: string[] = [];
  const say = (m: string) => {
    lines.push(m);
    log(m);
  };
  const name = opts.name ?? opts.outDir.split(/[/\\]/).filter(Boolean).pop() ?? opts.dataset;
  const data = opts.data ?? loadCnnDataset(opts.dataset);
  const train =
    opts.limit !== undefined && opts.limit < data.train.n
      ? subsetDataset(
          data.train,
          Array.from({ length: opts.limit }, (_, i) => i),
        )
      : data.train;
  const K = data.classes.length;
  const stats = datasetStats(data.train);
  const preprocessing = { scale: 1 / 255, mean: [stats.mean], std: [stats.std] };
  const tTrain = tensor(train, stats.mean, stats.std);
  const tVal = data.val === undefined ? undefined : tensor(data.val, stats.mean, stats.std);
  const counts = classCounts(train.labels, K);
  const classWeights = opts.classWeights === true ? balancedClassWeights(counts) : undefined;
  say(
    `${opts.dataset}: train ${train.n} (${counts.join('/')}), val ${data.val?.n ?? 0}, test ${data.test.n}; mean ${stats.mean} std ${stats.std}`,
  );
  say(`split: ${data.split}`);

  const batchNorm = opts.batchNorm === true;
  const layers = cnnPreset(arch, K, opts.poly === true, batchNorm);
  const net = new Sequential([train.channels, train.height, train.width], layers, new Rng(seed));
  torchDefaultScale(net);
  const nParams = net.params().reduce((s, p) => s + p.value.length, 0);
  say(
    `arch ${arch}${opts.poly ? ' (poly)' : ''}${batchNorm ? ' (batchnorm)' : ''}: ${nParams} parameters; epochs ${epochs}, batch ${batchSize}, lr ${lr} cosine, wd ${weightDecay}, shift ${augment.maxShift}, flip ${augment.flip}, class weights ${classWeights ? classWeights.map((w) => w.toFixed(3)).join('/') : 'none'}, seed ${seed}`,
  );
  const select = opts.select ?? 'accuracy';
  const fitResult = fit(net, tTrain, tVal, {
    epochs,
    batchSize,
    lr,
    weightDecay,
    seed,
    outputs: K,
    classWeights,
    augment: augment.maxShift > 0 || augment.flip ? augment : undefined,
    select,
    onBatch: opts.onBatch,
    onEpoch: (r) => {
      const v = r.val;
      lines.push(
        `epoch ${r.epoch}/${r.epochs} train loss ${r.trainLoss.toFixed(4)}` +
          (Number.isNaN(v.accuracy)
            ? ''
            : ` val acc ${v.accuracy.toFixed(4)} bal ${v.balancedAccuracy.toFixed(4)} auc ${v.auc.toFixed(4)}`) +
          ` lr ${r.lr.toExponential(2)} ${r.seconds.toFixed(1)}s${r.isBest && tVal !== undefined ? ' *' : ''}`,
      );
      opts.onEpoch?.(r);
    },
  });
  const ts = evaluate(net, tensor(data.test, stats.mean, stats.std), { outputs: K, classWeights });

  const model = sequentialToCnnModel(net, { name, preprocessing, classes: data.classes });
  const metrics: TrainCnnResult['metrics'] = {
    ...(data.val === undefined ? {} : { val: measureCnnModel(model, data.val) }),
    test: measureCnnModel(model, data.test, opts.testLimit),
  };
  const plan = planCnn(model);
  const planStats = {
    polyModulusDegree: plan.client.params.polyModulusDegree,
    depth: plan.stats.depth,
    rotations: plan.stats.rotations,
    plainMultiplications: plan.stats.plainMultiplications,
    galoisKeys: plan.stats.galoisKeys,
  };
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  say(
    `best epoch ${fitResult.bestEpoch}/${epochs} (${tVal === undefined ? 'last' : `val ${select}`}); test via IR reference: acc ${pct(metrics.test.accuracy)}, balanced ${pct(metrics.test.balancedAccuracy)}, AUC ${metrics.test.auc.toFixed(4)} (n ${metrics.test.n}; float32 net ${pct(ts.accuracy)}); majority baseline ${pct(majorityBaseline(data.test.labels))}`,
  );
  say(
    `protected plan: N ${planStats.polyModulusDegree}, depth ${planStats.depth}, ${planStats.rotations} rotations, ${planStats.galoisKeys} Galois keys`,
  );

  const training = {
    dataset: opts.dataset,
    arch,
    poly: opts.poly === true,
    ...(batchNorm ? { batchNorm } : {}),
    layers,
    parameters: nParams,
    seed,
    epochs,
    bestEpoch: fitResult.bestEpoch,
    select: tVal === undefined ? 'last' : select,
    batchSize,
    optimizer: `adam lr ${lr} cosine, weight decay ${weightDecay}`,
    augment,
    classWeights: classWeights ?? null,
    split: data.split,
    testLoader: data.testLoader,
    trainImages: train.n,
    valImages: data.val?.n ?? 0,
    testImages: data.test.n,
    preprocessing,
    metrics: {
      ...metrics,
      majorityBaseline: majorityBaseline(data.test.labels),
      float32TestAccuracy: ts.accuracy,
    },
    // Kept for older readers (results pipeline): plaintext test accuracy through the IR reference.
    testAccuracy: metrics.test.accuracy,
    plan: planStats,
    seconds: Math.round(fitResult.seconds),
    history: fitResult.history.map((h) => ({
      epoch: h.epoch,
      trainLoss: h.trainLoss,
      valAccuracy: h.val.accuracy,
      valAuc: h.val.auc,
      seconds: h.seconds,
    })),
    command: opts.command ?? null,
  };
  mkdirSync(opts.outDir, { recursive: true });
  const files = [
    join(opts.outDir, 'model.json'),
    join(opts.outDir, 'training.json'),
    join(opts.outDir, 'training.log'),
  ];
  writeFileSync(files[0], `${JSON.stringify(model)}\n`);
  writeFileSync(files[1], `${JSON.stringify(training, null, 2)}\n`);
  writeFileSync(files[2], `${lines.join('\n')}\n`);
  // The ONNX form (Conv/Mul/Gemm) has no trainable poly or BatchNorm.
  if (!layers.some((l) => l.type === 'poly' || l.type === 'batchnorm')) {
    const onnx = join(opts.outDir, 'model.onnx');
    writeFileSync(
      onnx,
      exportBackboneOnnx(net.layers, net.inShape, { batch: 1, metadata: { dataset: opts.dataset } }),
    );
    files.push(onnx);
  }
  if (sizeOf(net.outShape) !== K)
    throw new NnError('NN_SHAPE_MISMATCH', 'trainCnn: output size differs from classes');
  return { model, training, files, metrics };
}

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { classCounts } from '../data/dataset.ts';
import { loadMedMnist, MEDMNIST_CLASSES, type MedMnistName } from '../data/medmnist.node.ts';
import { NnError } from '../errors.ts';
import type { HeadSpec, MlpHeadLayer } from '../head.ts';
import { backboneToOnnxModel } from '../onnx/export-backbone.ts';
import { loadBackboneWeights } from '../onnx/import-backbone-weights.ts';
import { encodeOnnxModel } from '../onnx/onnx-model.ts';
import type { PreprocessSpec } from '../preprocess.ts';
import type { Dense } from './dense.ts';
import { evaluateSplitModel, loadSplitModelDir, sha256Hex } from './evaluate.node.ts';
import { type BatchReport, type EpochReport, evaluate, fit } from './fit.ts';
import type { LayerConfig } from './layer.ts';
import { balancedClassWeights } from './loss.ts';
import { Rng } from './rng.ts';
import { Sequential } from './sequential.ts';
import type { SplitMetrics, SplitModelManifest } from './split-manifest.ts';
import { backboneLayers, datasetStats, toTensorData } from './split-model.ts';

/** Options of {@link trainSplitModel}; defaults are the ones the committed demo models used. */
export interface TrainSplitOptions {
  dataset: MedMnistName;
  outDir: string;
  /** Model name in the manifest (default: the last path segment of `outDir`). */
  name?: string;
  epochs?: number;
  seed?: number;
  embeddingDim?: number;
  /** Channels of the first conv block (then ×2, ×4). */
  width?: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  maxShift?: number;
  flip?: boolean;
  /**
   * A split-model folder whose backbone initialises this one (fine-tuning, e.g. BreastMNIST from the
   * PneumoniaMNIST backbone); its architecture must match `embeddingDim` and `width`.
   */
  initFrom?: string;
  /**
   * Hidden width of an MLP head (dense → x² → dense) instead of the linear head; the x² activation
   * costs the encrypted evaluator one extra multiplicative level.
   */
  headHidden?: number;
  /** The command line recorded in the manifest. */
  command?: string;
  onBatch?: (r: BatchReport) => void;
  onEpoch?: (r: EpochReport) => void;
  /** Informational messages (loading, exporting, verifying). */
  log?: (msg: string) => void;
}

/** What {@link trainSplitModel} did. */
export interface TrainSplitResult {
  manifest: SplitModelManifest;
  files: { backbone: string; head: string; manifest: string };
  /** Metrics of the in-memory TS network (float32), for comparison with the ONNX ones in the manifest. */
  tsMetrics: Record<'train' | 'val' | 'test', SplitMetrics>;
}

/**
 * Trains a split model on a MedMNIST set end to end (backbone + linear head, weighted BCE), keeps the
 * epoch with the best validation AUC, exports `backbone.onnx` + `head.json`, re-measures all splits
 * through onnxruntime with the float64 head, and writes `model.json`.
 */
export async function trainSplitModel(opts: TrainSplitOptions): Promise<TrainSplitResult> {
  const epochs = opts.epochs ?? 30;
  const seed = opts.seed ?? 1;
  const d = opts.embeddingDim ?? 64;
  const width = opts.width ?? 16;
  const batchSize = opts.batchSize ?? 32;
  const lr = opts.lr ?? 0.002;
  const weightDecay = opts.weightDecay ?? 1e-4;
  const augment = { maxShift: opts.maxShift ?? 2, flip: opts.flip ?? true };
  for (const [k, v] of Object.entries({ epochs, seed, d, width, batchSize })) {
    if (!Number.isInteger(v) || v < (k === 'seed' ? 0 : 1)) {
      throw new NnError('NN_INVALID_ARGUMENT', `trainSplitModel: ${k} must be a positive integer, got ${v}`);
    }
  }
  const log = opts.log ?? (() => {});
  const classes = [...MEDMNIST_CLASSES[opts.dataset]];
  const name = opts.name ?? opts.outDir.split(/[/\\]/).filter(Boolean).pop() ?? opts.dataset;

  const raw = {
    train: loadMedMnist(opts.dataset, 'train'),
    val: loadMedMnist(opts.dataset, 'val'),
    test: loadMedMnist(opts.dataset, 'test'),
  };
  const stats = datasetStats(raw.train);
  const preprocessing: PreprocessSpec = {
    width: 28,
    height: 28,
    channels: 1,
    mean: [stats.mean],
    std: [stats.std],
    resize: 'area',
  };
  const data = {
    train: toTensorData(raw.train, preprocessing),
    val: toTensorData(raw.val, preprocessing),
    test: toTensorData(raw.test, preprocessing),
  };
  const counts = classCounts(raw.train.labels, 2);
  const classWeights = balancedClassWeights(counts);
  log(
    `${opts.dataset}: train ${raw.train.n} (${counts.join('/')}), val ${raw.val.n}, test ${raw.test.n}; mean ${stats.mean} std ${stats.std}`,
  );

  const backbone = backboneLayers(d, width);
  const hidden = opts.headHidden;
  if (hidden !== undefined && !(Number.isInteger(hidden) && hidden >= 1 && hidden <= 1024)) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `trainSplitModel: headHidden must be an integer in 1..1024, got ${hidden}`,
    );
  }
  const headLayers: LayerConfig[] =
    hidden === undefined
      ? [{ type: 'dense', units: 1 }]
      : [{ type: 'dense', units: hidden }, { type: 'square' }, { type: 'dense', units: 1 }];
  const net = new Sequential([1, 28, 28], [...backbone, ...headLayers], new Rng(seed));
  let initFrom: { model: string; dataset: string; backboneSha256: string } | undefined;
  if (opts.initFrom !== undefined) {
    const src = loadSplitModelDir(opts.initFrom);
    loadBackboneWeights(net, src.backbone);
    initFrom = {
      model: src.manifest.name,
      dataset: src.manifest.dataset,
      backboneSha256: src.manifest.backbone.sha256,
    };
    log(`backbone initialised from ${opts.initFrom} (${src.manifest.dataset})`);
  }
  const params = net.params().reduce((s, p) => s + p.value.length, 0);
  log(`network: ${params} parameters, embedding ${d}, seed ${seed}`);
  const fitResult = fit(net, data.train, data.val, {
    epochs,
    batchSize,
    lr,
    weightDecay,
    seed,
    outputs: 1,
    classWeights,
    augment,
    select: 'auc',
    onBatch: opts.onBatch,
    onEpoch: opts.onEpoch,
  });

  const tsMetrics = Object.fromEntries(
    (['train', 'val', 'test'] as const).map((s) => {
      const m = evaluate(net, data[s], { outputs: 1 });
      return [s, { n: data[s].n, accuracy: m.accuracy, auc: m.auc }];
    }),
  ) as TrainSplitResult['tsMetrics'];

  const backboneLayersTrained = net.layers.slice(0, backbone.length);
  // Float32 weights widen exactly to float64; the JSON keeps every bit.
  const affine = (l: Dense): MlpHeadLayer => {
    const inDim = l.weight.value.length / l.config.units;
    const weights = Array.from({ length: l.config.units }, (_, r) =>
      Array.from(l.weight.value.subarray(r * inDim, (r + 1) * inDim)),
    );
    return { inputDim: inDim, outputs: l.config.units, weights, bias: Array.from(l.bias.value) };
  };
  const denseHead = net.layers
    .slice(backbone.length)
    .filter((l): l is Dense => l.config.type === 'dense')
    .map(affine);
  const head: HeadSpec =
    denseHead.length === 1
      ? { kind: 'linear', ...denseHead[0], inputDim: d, outputs: 1, activation: 'sigmoid', classes }
      : {
          kind: 'mlp',
          inputDim: d,
          outputs: 1,
          layers: denseHead,
          hiddenActivation: { kind: 'polynomial', coefficients: [0, 0, 1] },
          activation: 'sigmoid',
          classes,
        };
  const onnxModel = backboneToOnnxModel(backboneLayersTrained, [1, 28, 28], {
    metadata: {
      dataset: opts.dataset,
      embedding_dim: String(d),
      preprocessing: JSON.stringify(preprocessing),
    },
  });
  const backboneBytes = encodeOnnxModel(onnxModel);
  const headBytes = new TextEncoder().encode(`${JSON.stringify(head, null, 1)}\n`);

  log('measuring train/val/test through onnxruntime (exported backbone) + float64 head');
  const metrics = {
    train: await evaluateSplitModel(backboneBytes, head, preprocessing, raw.train),
    val: await evaluateSplitModel(backboneBytes, head, preprocessing, raw.val),
    test: await evaluateSplitModel(backboneBytes, head, preprocessing, raw.test),
  };

  const bbParams = backboneLayersTrained.flatMap((l) => l.params()).reduce((s, p) => s + p.value.length, 0);
  const manifest: SplitModelManifest = {
    format: 'blinddx-split-model/1',
    name,
    dataset: opts.dataset,
    task: 'binary',
    classes,
    preprocessing,
    backbone: {
      file: 'backbone.onnx',
      sha256: sha256Hex(backboneBytes),
      bytes: backboneBytes.length,
      input: { name: 'image', shape: onnxModel.graph.inputs[0].shape },
      output: { name: 'embedding', shape: onnxModel.graph.outputs[0].shape },
      opset: onnxModel.opsetVersion,
      parameters: bbParams,
    },
    embeddingDim: d,
    head: {
      file: 'head.json',
      sha256: sha256Hex(headBytes),
      bytes: headBytes.length,
      kind: 'linear',
      outputs: 1,
      activation: 'sigmoid',
    },
    metrics: {
      measuredWith: 'onnxruntime-node backbone + float64 head, all images of each split',
      threshold: 0.5,
      ...metrics,
    },
    training: {
      seed,
      command:
        opts.command ??
        `blinddx train --dataset ${opts.dataset} --out ${opts.outDir} --epochs ${epochs} --seed ${seed} --embedding-dim ${d}`,
      epochs,
      bestEpoch: fitResult.bestEpoch,
      selectedOn: 'val AUC',
      seconds: Math.round(fitResult.seconds),
      width,
      batchSize,
      lr,
      lrSchedule: 'cosine',
      weightDecay,
      optimizer: 'AdamW',
      loss: 'class-weighted sigmoid BCE',
      classWeights,
      augment,
      ...(initFrom === undefined ? {} : { initFrom }),
    },
  };
  mkdirSync(opts.outDir, { recursive: true });
  const files = {
    backbone: join(opts.outDir, 'backbone.onnx'),
    head: join(opts.outDir, 'head.json'),
    manifest: join(opts.outDir, 'model.json'),
  };
  writeFileSync(files.backbone, backboneBytes);
  writeFileSync(files.head, headBytes);
  writeFileSync(files.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
  return { manifest, files, tsMetrics };
}

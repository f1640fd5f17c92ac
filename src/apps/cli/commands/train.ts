import { MEDMNIST_CLASSES, type MedMnistName } from '../../../nn/data/medmnist.node.ts';
import { NnError } from '../../../nn/errors.ts';
import { CNN_DATASETS, type CnnDatasetName } from '../../../nn/train/cnn-data.node.ts';
import { CNN_PRESETS } from '../../../nn/train/cnn-presets.ts';
import type { BatchReport, EpochReport } from '../../../nn/train/fit.ts';
import { trainCnn } from '../../../nn/train/train-cnn.node.ts';
import { trainSplitModel } from '../../../nn/train/train-split-model.node.ts';
import type { CliCommand } from '../command.ts';

const usage = `usage: blinddx train --dataset pneumoniamnist|breastmnist --out models/<name> [options]
       blinddx train --kind cnn --dataset <set> --arch <preset> --out models/<name> [cnn options]

--kind split (default) trains a split model; --kind cnn trains an HE-friendly CNN (see below).

Split model: trains a split model (cleartext CNN backbone + private linear head) on a MedMNIST set: trains on the
train split, keeps the epoch with the best validation AUC, reports test. Writes
  <out>/backbone.onnx   public backbone (input "image" [N,1,28,28], output "embedding" [N,d])
  <out>/head.json       the vendor's private head (keep it off the client)
  <out>/model.json      public manifest: classes, preprocessing, metrics, sha256 digests, seed, command

options:
  --dataset <name>        pneumoniamnist | breastmnist
  --out <dir>             output folder
  --epochs <n>            training epochs (default 30)
  --seed <s>              RNG seed (default 1); same seed, same machine → same model
  --embedding-dim <d>     embedding size (default 64)
  --width <w>             channels of the first conv block, then 2w, 4w (default 16)
  --lr <x>                Adam learning rate, cosine-decayed (default 0.002)
  --batch-size <n>        mini-batch size (default 32)
  --weight-decay <x>      decoupled (AdamW) weight decay on weights (default 1e-4)
  --head-hidden <h>       MLP head dense(h) → x² → dense(1) instead of the linear head
  --init-from <dir>       start from the backbone of an existing split model (same --width/--embedding-dim)

CNN (--kind cnn): an encrypted-inference CNN (x² activations, two of them) trained in float32, with
a fixed seed (same seed, same machine → same model), Adam + cosine decay, and the epoch picked on the
validation split where the dataset has one (MedMNIST, HAM10000), else the last epoch. Writes
  <out>/model.json      CNN IR (what planCnn compiles and the encrypted executor serves)
  <out>/model.onnx      the same net as ONNX (Conv/Mul/Gemm; onnx-import.ts reads it back; not with
                        --poly or --batchnorm)
  <out>/training.json   options, split, seed, command, metrics through the IR (accuracy, balanced
                        accuracy, AUC, majority baseline), protected-plan statistics
  <out>/training.log    one line per epoch

cnn options:
  --dataset <name>        ${CNN_DATASETS.join(' | ')}
                          (kmnist: its 10k test set split 8,000/2,000 with Rng(1); ham10000: 8×8
                          hmnist, lesion-grouped stratified 70/15/15 split)
  --arch <preset>         ${Object.keys(CNN_PRESETS).join(' | ')} (default tenseal)
  --poly                  trainable a·x²+b·x+c activations instead of x² (no ONNX export)
  --batchnorm             BatchNorm after every conv/dense (folded into it when planned; no ONNX export)
  --epochs <n>            (default 10)      --seed <s>         (default 1)
  --lr <x>                (default 0.002)   --batch-size <n>   (default 64)
  --weight-decay <x>      AdamW decay (default 0)
  --shift <px>            random shift augmentation (default 0)
  --flip                  random left–right mirror augmentation
  --class-weights         inverse-frequency class weights (imbalanced sets)
  --select <metric>       accuracy | balanced-accuracy | auc | loss: val metric that picks the epoch
  --limit <n>             train on the first n images only (smoke tests)
  --test-limit <n>        measure on the first n test images only (smoke tests)`;

function intOpt(v: unknown, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new NnError('NN_INVALID_ARGUMENT', `--${name} must be a non-negative integer`);
  return n;
}

function fmt(x: number): string {
  return Number.isNaN(x) ? '  n/a ' : x.toFixed(4);
}

/** Progress display on stderr: a bar per batch on a TTY, one line per epoch always. */
function progress(): { onBatch: (r: BatchReport) => void; onEpoch: (r: EpochReport) => void } {
  const err = process.stderr;
  const tty = err.isTTY === true;
  let lastPrint = 0;
  return {
    onBatch: (r) => {
      if (!tty) return;
      const now = Date.now();
      if (now - lastPrint < 100 && r.batch !== r.batches) return;
      lastPrint = now;
      const w = 30;
      const done = Math.round((w * r.batch) / r.batches);
      err.write(
        `\r  epoch ${String(r.epoch).padStart(3)}  [${'#'.repeat(done)}${'.'.repeat(w - done)}] ${r.batch}/${r.batches}  loss ${r.loss.toFixed(4)}   `,
      );
    },
    onEpoch: (r) => {
      if (tty) err.write('\r\x1b[2K');
      const v = Number.isNaN(r.val.accuracy)
        ? ''
        : `  val acc ${fmt(r.val.accuracy)}  bal ${fmt(r.val.balancedAccuracy)}  AUC ${fmt(r.val.auc)}`;
      err.write(
        `  epoch ${String(r.epoch).padStart(3)}/${r.epochs}  train loss ${r.trainLoss.toFixed(4)}${v}  lr ${r.lr.toExponential(2)}  ${r.seconds.toFixed(1)}s${r.isBest && v !== '' ? '  * best' : ''}\n`,
      );
    },
  };
}

const SELECTS = ['accuracy', 'balanced-accuracy', 'auc', 'loss'] as const;

/** `blinddx train --kind cnn`: {@link trainCnn} with every effective option recorded. */
async function runCnn(values: Record<string, unknown>): Promise<number> {
  const dataset = values.dataset as string | undefined;
  const out = values.out as string | undefined;
  if (dataset === undefined || !(CNN_DATASETS as readonly string[]).includes(dataset) || out === undefined) {
    console.error(
      `blinddx train: --kind cnn needs --dataset (${CNN_DATASETS.join('|')}) and --out\n\n${usage}`,
    );
    return 2;
  }
  let o: {
    arch: string;
    epochs: number;
    seed: number;
    lr: number;
    batchSize: number;
    weightDecay: number;
    maxShift: number;
    select: (typeof SELECTS)[number];
    limit?: number;
    testLimit?: number;
  };
  try {
    const arch = (values.arch as string | undefined) ?? 'tenseal';
    if (!(arch in CNN_PRESETS)) {
      throw new NnError(
        'NN_INVALID_ARGUMENT',
        `--arch must be one of ${Object.keys(CNN_PRESETS).join(', ')}`,
      );
    }
    const select = ((values.select as string | undefined) ?? 'accuracy') as (typeof SELECTS)[number];
    if (!SELECTS.includes(select))
      throw new NnError('NN_INVALID_ARGUMENT', `--select must be one of ${SELECTS.join(', ')}`);
    o = {
      arch,
      epochs: intOpt(values.epochs, 'epochs', 10),
      seed: intOpt(values.seed, 'seed', 1),
      lr: values.lr === undefined ? 0.002 : Number(values.lr),
      batchSize: intOpt(values['batch-size'], 'batch-size', 64),
      weightDecay: values['weight-decay'] === undefined ? 0 : Number(values['weight-decay']),
      maxShift: intOpt(values.shift, 'shift', 0),
      select,
      limit: values.limit === undefined ? undefined : intOpt(values.limit, 'limit', 0),
      testLimit:
        values['test-limit'] === undefined ? undefined : intOpt(values['test-limit'], 'test-limit', 0),
    };
    if (o.epochs < 1 || o.batchSize < 1)
      throw new NnError('NN_INVALID_ARGUMENT', '--epochs and --batch-size must be ≥ 1');
    if (!(o.lr > 0 && o.lr < 1)) throw new NnError('NN_INVALID_ARGUMENT', '--lr must be in (0, 1)');
    if (!(o.weightDecay >= 0 && o.weightDecay < 1)) {
      throw new NnError('NN_INVALID_ARGUMENT', '--weight-decay must be in [0, 1)');
    }
  } catch (e) {
    console.error(`blinddx train: ${(e as Error).message}`);
    return 2;
  }
  const flags = [
    values.poly === true ? ' --poly' : '',
    values.batchnorm === true ? ' --batchnorm' : '',
    values.flip === true ? ' --flip' : '',
    values['class-weights'] === true ? ' --class-weights' : '',
    o.limit === undefined ? '' : ` --limit ${o.limit}`,
    o.testLimit === undefined ? '' : ` --test-limit ${o.testLimit}`,
  ].join('');
  const command =
    `blinddx train --kind cnn --dataset ${dataset} --arch ${o.arch} --out ${out} --epochs ${o.epochs} --seed ${o.seed}` +
    ` --lr ${o.lr} --batch-size ${o.batchSize} --weight-decay ${o.weightDecay} --shift ${o.maxShift} --select ${o.select}${flags}`;
  const err = process.stderr;
  try {
    const res = trainCnn({
      dataset: dataset as CnnDatasetName,
      outDir: out,
      ...o,
      poly: values.poly === true,
      batchNorm: values.batchnorm === true,
      flip: values.flip === true,
      classWeights: values['class-weights'] === true,
      command,
      ...progress(),
      log: (m) => err.write(`${m}\n`),
    });
    const t = res.metrics.test;
    console.log(
      `\n${res.model.name}: test (n ${t.n}, float64 IR reference) accuracy ${fmt(t.accuracy)}, balanced ${fmt(t.balancedAccuracy)}, AUC ${fmt(t.auc)}\nwrote ${res.files.join(', ')}`,
    );
    return 0;
  } catch (e) {
    if (e instanceof NnError) {
      console.error(`blinddx train: ${e.code}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

/** `blinddx train`: split models via `trainSplitModel`, CNNs via `trainCnn`; progress on stderr. */
export const trainCommand: CliCommand = {
  name: 'train',
  summary: 'train a split model (ONNX backbone + private head) or an HE-friendly CNN (--kind cnn)',
  usage,
  options: {
    dataset: { type: 'string' },
    out: { type: 'string' },
    epochs: { type: 'string' },
    seed: { type: 'string' },
    'embedding-dim': { type: 'string' },
    width: { type: 'string' },
    lr: { type: 'string' },
    'batch-size': { type: 'string' },
    'init-from': { type: 'string' },
    'weight-decay': { type: 'string' },
    'head-hidden': { type: 'string' },
    kind: { type: 'string' },
    arch: { type: 'string' },
    poly: { type: 'boolean' },
    batchnorm: { type: 'boolean' },
    shift: { type: 'string' },
    flip: { type: 'boolean' },
    'class-weights': { type: 'boolean' },
    select: { type: 'string' },
    limit: { type: 'string' },
    'test-limit': { type: 'string' },
  },
  async run({ values }) {
    const kind = (values.kind as string | undefined) ?? 'split';
    if (kind === 'cnn') return runCnn(values);
    if (kind !== 'split') {
      console.error(`blinddx train: --kind must be split or cnn, got "${kind}"\n\n${usage}`);
      return 2;
    }
    const dataset = values.dataset as string | undefined;
    const out = values.out as string | undefined;
    if (dataset === undefined || !(dataset in MEDMNIST_CLASSES) || out === undefined) {
      console.error(
        `blinddx train: --dataset (pneumoniamnist|breastmnist) and --out are required\n\n${usage}`,
      );
      return 2;
    }
    let opts: {
      epochs: number;
      seed: number;
      embeddingDim: number;
      width: number;
      batchSize: number;
      lr: number;
      weightDecay: number;
    };
    try {
      opts = {
        epochs: intOpt(values.epochs, 'epochs', 30),
        seed: intOpt(values.seed, 'seed', 1),
        embeddingDim: intOpt(values['embedding-dim'], 'embedding-dim', 64),
        width: intOpt(values.width, 'width', 16),
        batchSize: intOpt(values['batch-size'], 'batch-size', 32),
        lr: values.lr === undefined ? 0.002 : Number(values.lr),
        weightDecay: values['weight-decay'] === undefined ? 1e-4 : Number(values['weight-decay']),
      };
      if (!(opts.weightDecay >= 0 && opts.weightDecay < 1)) {
        throw new NnError('NN_INVALID_ARGUMENT', '--weight-decay must be in [0, 1)');
      }
      if (!(opts.lr > 0 && opts.lr < 1)) throw new NnError('NN_INVALID_ARGUMENT', '--lr must be in (0, 1)');
    } catch (e) {
      console.error(`blinddx train: ${(e as Error).message}`);
      return 2;
    }
    const err = process.stderr;
    const { onBatch, onEpoch } = progress();
    // Recorded in model.json with every effective option, so the run can be repeated exactly.
    const command =
      `blinddx train --dataset ${dataset} --out ${out} --epochs ${opts.epochs} --seed ${opts.seed}` +
      ` --embedding-dim ${opts.embeddingDim} --width ${opts.width} --lr ${opts.lr} --batch-size ${opts.batchSize}` +
      ` --weight-decay ${opts.weightDecay}` +
      (values['head-hidden'] === undefined ? '' : ` --head-hidden ${values['head-hidden']}`) +
      (values['init-from'] === undefined ? '' : ` --init-from ${values['init-from']}`);
    try {
      const res = await trainSplitModel({
        dataset: dataset as MedMnistName,
        outDir: out,
        ...opts,
        initFrom: values['init-from'] as string | undefined,
        headHidden:
          values['head-hidden'] === undefined ? undefined : intOpt(values['head-hidden'], 'head-hidden', 0),
        command,
        onBatch,
        onEpoch,
        log: (m) => err.write(`${m}\n`),
      });
      const m = res.manifest.metrics;
      const rows = (['train', 'val', 'test'] as const).map((s) => [
        s,
        String(m[s].n),
        fmt(m[s].accuracy),
        fmt(m[s].auc),
      ]);
      const table = [
        `\n${res.manifest.name}: best epoch ${res.manifest.training.bestEpoch}/${opts.epochs} (by val AUC), ${res.manifest.training.seconds}s of training`,
        'metrics via onnxruntime (exported backbone) + float64 head, threshold 0.5:',
        '  split      n   accuracy     AUC',
        ...rows.map(
          ([s, n, a, u]) => `  ${s.padEnd(5)} ${n.padStart(6)}   ${a.padStart(8)}  ${u.padStart(6)}`,
        ),
        '',
        `wrote ${res.files.backbone} (${res.manifest.backbone.bytes} bytes, ${res.manifest.backbone.parameters} parameters)`,
        `      ${res.files.head} (vendor-private) and ${res.files.manifest}`,
      ].join('\n');
      console.log(table);
      return 0;
    } catch (e) {
      if (e instanceof NnError) {
        console.error(`blinddx train: ${e.code}: ${e.message}`);
        return 1;
      }
      throw e;
    }
  },
};

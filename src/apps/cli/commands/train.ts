import { MEDMNIST_CLASSES, type MedMnistName } from '../../../nn/data/medmnist.node.ts';
import { NnError } from '../../../nn/errors.ts';
import type { BatchReport, EpochReport } from '../../../nn/train/fit.ts';
import { trainSplitModel } from '../../../nn/train/train-split-model.node.ts';
import type { CliCommand } from '../command.ts';

const usage = `usage: blinddx train --dataset pneumoniamnist|breastmnist --out models/<name> [options]

Trains a split model (cleartext CNN backbone + private linear head) on a MedMNIST set: trains on the
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
  --init-from <dir>       start from the backbone of an existing split model (same --width/--embedding-dim)`;

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

/** `blinddx train`: a thin wrapper over `trainSplitModel` with a progress display on stderr. */
export const trainCommand: CliCommand = {
  name: 'train',
  summary: 'train a split model (ONNX backbone + private head) on a MedMNIST set',
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
  },
  async run({ values }) {
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
    const tty = err.isTTY === true;
    let lastPrint = 0;
    const onBatch = (r: BatchReport) => {
      if (!tty) return;
      const now = Date.now();
      if (now - lastPrint < 100 && r.batch !== r.batches) return;
      lastPrint = now;
      const w = 30;
      const done = Math.round((w * r.batch) / r.batches);
      err.write(
        `\r  epoch ${String(r.epoch).padStart(3)}  [${'#'.repeat(done)}${'.'.repeat(w - done)}] ${r.batch}/${r.batches}  loss ${r.loss.toFixed(4)}   `,
      );
    };
    const onEpoch = (r: EpochReport) => {
      if (tty) err.write('\r\x1b[2K');
      err.write(
        `  epoch ${String(r.epoch).padStart(3)}/${r.epochs}  train loss ${r.trainLoss.toFixed(4)}  val acc ${fmt(r.val.accuracy)}  val AUC ${fmt(r.val.auc)}  lr ${r.lr.toExponential(2)}  ${r.seconds.toFixed(1)}s${r.isBest ? '  * best' : ''}\n`,
      );
    };
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

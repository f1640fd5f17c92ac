// The TenSEAL tutorial network as a preset of the CNN trainer (src/nn/train/train-cnn.node.ts):
// conv 1→4, 7×7, stride 3 → x² → dense 256→64 → x² → dense 64→K, Adam + cosine decay, batch 64,
// fixed seed. Kept as a shortcut with the old defaults; `blinddx train --kind cnn --arch tenseal`
// is the same thing with every option. Heavy: run by hand, never from `npm test`.
//
// Not the recipe of the committed models/{mnist,fashion,kmnist,pneumonia,breast}-tenseal: those were
// trained before commit f42e613 by this file's own float64 loop (Adam at a constant lr 1e-3, its own
// mulberry32 init and shuffle; see `git log -- src/nn/cnn/train-tenseal-mnist.node.ts`). This
// preset trains the same architecture with cosine decay in float32, so it gives different weights.
//
//   node src/nn/cnn/train-tenseal-mnist.node.ts [--epochs 8] [--seed 1] [--out models/mnist-tenseal]
//        [--dataset mnist|fashion-mnist|kmnist|pneumoniamnist|breastmnist|ham10000] [--lr 0.001]
//        [--limit n]   (MedMNIST: inverse-frequency class weights, epoch chosen on val accuracy)
import { parseArgs } from 'node:util';
import { CNN_DATASETS, type CnnDatasetName } from '../train/cnn-data.node.ts';
import { trainCnn } from '../train/train-cnn.node.ts';

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '8' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: 'models/mnist-tenseal' },
    lr: { type: 'string', default: '0.001' },
    limit: { type: 'string' },
    dataset: { type: 'string', default: 'mnist' },
  },
});
const dataset = values.dataset as CnnDatasetName;
if (!CNN_DATASETS.includes(dataset)) throw new Error(`--dataset: one of ${CNN_DATASETS.join(', ')}`);
const med = dataset === 'pneumoniamnist' || dataset === 'breastmnist';
const argv = process.argv.slice(2).join(' ');
trainCnn({
  dataset,
  outDir: values.out!,
  arch: 'tenseal',
  epochs: Number(values.epochs),
  seed: Number(values.seed),
  lr: Number(values.lr),
  batchSize: 64,
  classWeights: med,
  limit: values.limit === undefined ? undefined : Number(values.limit),
  command: `node src/nn/cnn/train-tenseal-mnist.node.ts ${argv}`.trim(),
  onEpoch: (r) =>
    console.log(
      `epoch ${r.epoch}/${r.epochs}: loss ${r.trainLoss.toFixed(4)}${Number.isNaN(r.val.accuracy) ? '' : ` val acc ${(100 * r.val.accuracy).toFixed(2)}%`} (${r.seconds.toFixed(1)} s)`,
    ),
  log: (m) => console.log(m),
});

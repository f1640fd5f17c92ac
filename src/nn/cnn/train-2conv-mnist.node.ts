// The two-convolution HE-friendly MNIST net as a preset of the CNN trainer
// (src/nn/train/train-cnn.node.ts, `--arch twoconv`): conv 1→4 7×7/3 → x² → conv 4→8 3×3 pad 1 → x²
// → avgpool 2×2 → flatten → dense 128→10. Under encryption: im2col conv, square,
// conv-as-BSGS-diagonals, square, fused avgpool+dense. Heavy: run by hand, never from `npm test`.
//
//   node src/nn/cnn/train-2conv-mnist.node.ts [--epochs 30] [--seed 1] [--out models/mnist-2conv] [--lr 0.002]
//        [--shift 1]
//
// The defaults are the options of the committed models/mnist-2conv (its training.json records them:
// `blinddx train --kind cnn --arch twoconv …`); MNIST has no validation split, so the trainer keeps
// the last epoch and measures the test split once, after training.
import { parseArgs } from 'node:util';
import { trainCnn } from '../train/train-cnn.node.ts';

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '30' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: 'models/mnist-2conv' },
    lr: { type: 'string', default: '0.002' },
    shift: { type: 'string', default: '1' },
  },
});
trainCnn({
  dataset: 'mnist',
  outDir: values.out!,
  arch: 'twoconv',
  epochs: Number(values.epochs),
  seed: Number(values.seed),
  lr: Number(values.lr),
  maxShift: Number(values.shift),
  batchSize: 64,
  command: `node src/nn/cnn/train-2conv-mnist.node.ts ${process.argv.slice(2).join(' ')}`.trim(),
  onEpoch: (r) =>
    console.log(
      `epoch ${r.epoch}/${r.epochs}: train loss ${r.trainLoss.toFixed(4)} (${r.seconds.toFixed(1)} s)`,
    ),
  log: (m) => console.log(m),
});

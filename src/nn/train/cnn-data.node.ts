import { HMNIST_CLASSES } from '../data/csv-digits.node.ts';
import { classCounts, type ImageDataset } from '../data/dataset.ts';
import { HAM_SPLIT, loadHam10000Split } from '../data/ham10000.node.ts';
import { loadIdxDataset } from '../data/idx.node.ts';
import { loadKmnistSplit } from '../data/kmnist-split.node.ts';
import { loadMedMnist, MEDMNIST_CLASSES } from '../data/medmnist.node.ts';
import { NnError } from '../errors.ts';

/** Datasets `blinddx train --kind cnn` knows. */
export const CNN_DATASETS = [
  'mnist',
  'fashion-mnist',
  'kmnist',
  'pneumoniamnist',
  'breastmnist',
  'ham10000',
] as const;
export type CnnDatasetName = (typeof CNN_DATASETS)[number];

/** A dataset's splits (val absent where the dataset has none), class names and how it was split. */
export interface CnnDataSplits {
  readonly train: ImageDataset;
  readonly val?: ImageDataset;
  readonly test: ImageDataset;
  readonly classes: readonly string[];
  /** One sentence on where each split comes from (recorded in training.json). */
  readonly split: string;
  /** Loader call that reproduces the test split (for the results pipeline). */
  readonly testLoader: string;
}

const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
const FASHION = [
  't-shirt',
  'trouser',
  'pullover',
  'dress',
  'coat',
  'sandal',
  'shirt',
  'sneaker',
  'bag',
  'boot',
];
const KMNIST = ['o', 'ki', 'su', 'tsu', 'na', 'ha', 'ma', 'ya', 're', 'wo'];

/** Loads the train/val/test splits of `name` (all uint8 grayscale). */
export function loadCnnDataset(name: CnnDatasetName): CnnDataSplits {
  switch (name) {
    case 'mnist':
    case 'fashion-mnist':
      return {
        train: loadIdxDataset(name, 'train'),
        test: loadIdxDataset(name, 'test'),
        classes: name === 'mnist' ? DIGITS : FASHION,
        split: 'official 60,000 train / 10,000 test; no validation split (last epoch kept)',
        testLoader: `loadIdxDataset('${name}', 'test')`,
      };
    case 'kmnist':
      return {
        train: loadKmnistSplit('train'),
        test: loadKmnistSplit('test'),
        classes: KMNIST,
        split:
          'the 10,000 KMNIST test images split 8,000 train / 2,000 held-out test by loadKmnistSplit (Rng(1)); no validation split (last epoch kept)',
        testLoader: "loadKmnistSplit('test')",
      };
    case 'pneumoniamnist':
    case 'breastmnist':
      return {
        train: loadMedMnist(name, 'train'),
        val: loadMedMnist(name, 'val'),
        test: loadMedMnist(name, 'test'),
        classes: MEDMNIST_CLASSES[name],
        split: 'official MedMNIST v2 train / val / test; epoch chosen on val',
        testLoader: `loadMedMnist('${name}', 'test')`,
      };
    case 'ham10000':
      return {
        train: loadHam10000Split('train'),
        val: loadHam10000Split('val'),
        test: loadHam10000Split('test'),
        classes: HMNIST_CLASSES,
        split: `hmnist_8_8_L rows aligned to HAM10000_metadata.csv (file order, checked row by row); lesion-grouped split stratified by dx, ${HAM_SPLIT.test} test / ${HAM_SPLIT.val} val of the lesions per class, groupedSplit seed ${HAM_SPLIT.seed}; epoch chosen on val`,
        testLoader: "loadHam10000Split('test')",
      };
    default:
      throw new NnError(
        'NN_INVALID_ARGUMENT',
        `loadCnnDataset: unknown dataset "${name}" (one of ${CNN_DATASETS.join(', ')})`,
      );
  }
}

/** Share of the most frequent class in `labels` (the accuracy of always answering it). */
export function majorityBaseline(labels: Uint8Array): number {
  const c = classCounts(labels);
  return labels.length === 0 ? Number.NaN : Math.max(...c) / labels.length;
}

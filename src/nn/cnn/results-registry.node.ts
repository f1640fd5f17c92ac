import { loadCifar10Jpeg } from '../data/cifar10.node.ts';
import type { ImageDataset } from '../data/dataset.ts';
import { HAM_SPLIT, loadHam10000Split } from '../data/ham10000.node.ts';
import { loadIdxDataset } from '../data/idx.node.ts';
import { loadKmnistSplit } from '../data/kmnist-split.node.ts';
import { loadMedMnist } from '../data/medmnist.node.ts';
import { NnError } from '../errors.ts';

/**
 * The evaluation sets the results pipeline and `blinddx eval` know, by name: each loads the test
 * split a model is scored on, and says in words what that split is.
 */
export interface EvalSet {
  /** Dataset name as the tables print it (the issue-7 floors are keyed by it). */
  readonly dataset: string;
  /** What the split is, for the notes ("official test split", "held-out 2,000 of …"). */
  readonly split: string;
  readonly load: () => ImageDataset;
}

export const EVAL_SETS: Readonly<Record<string, EvalSet>> = {
  mnist: { dataset: 'MNIST', split: 'official test split', load: () => loadIdxDataset('mnist', 'test') },
  'fashion-mnist': {
    dataset: 'Fashion-MNIST',
    split: 'official test split',
    load: () => loadIdxDataset('fashion-mnist', 'test'),
  },
  kmnist: {
    dataset: 'KMNIST',
    split: 'held-out 2,000 of the 10,000-image test split (loadKmnistSplit, Rng(1))',
    load: () => loadKmnistSplit('test'),
  },
  pneumoniamnist: {
    dataset: 'PneumoniaMNIST',
    split: 'official test split',
    load: () => loadMedMnist('pneumoniamnist', 'test'),
  },
  breastmnist: {
    dataset: 'BreastMNIST',
    split: 'official test split',
    load: () => loadMedMnist('breastmnist', 'test'),
  },
  ham10000: {
    dataset: 'HAM10000 (8×8)',
    split: `hmnist_8_8_L, 7 classes: the test part of the lesion-grouped split the model was trained with (groupedSplit by lesion_id, stratified by dx, ${HAM_SPLIT.test} of the lesions per class, seed ${HAM_SPLIT.seed}; loadHam10000Split('test'))`,
    load: () => loadHam10000Split('test'),
  },
  cifar10: { dataset: 'CIFAR-10', split: 'official test split', load: () => loadCifar10Jpeg('test') },
};

/** Looks an evaluation set up by name; the error lists the known names. */
export function evalSet(name: string): EvalSet {
  const s = EVAL_SETS[name];
  if (s === undefined) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `unknown dataset "${name}": known ${Object.keys(EVAL_SETS).join(', ')}`,
    );
  }
  return s;
}

/**
 * One row of docs/results.md: a model directory under models/ scored on an evaluation set. `n`
 * absent = the full test split; else a seeded subset (`seed`) of n images, for sets whose full
 * encrypted run would take over an hour.
 */
export interface ResultsRow {
  readonly model: string;
  readonly set: string;
  readonly n?: number;
  readonly seed?: number;
  /** Images timed in the protected latency plan (median reported); default 5. */
  readonly latencyImages?: number;
  /**
   * Encrypted accuracy in `throughput` mode (default) or, where throughput mode cannot run the net
   * (e.g. one ciphertext per input feature does not fit in memory), the `latency` plan on n images.
   */
  readonly mode?: 'throughput' | 'latency';
  /** Simulated images (a seeded subset of the n; default all, or the pipeline's --sim-n). */
  readonly simN?: number;
  /** Encrypted images (a seeded subset of the n; default all n): for nets too slow to encrypt n. */
  readonly encN?: number;
  /** A net kept for comparison, not the dataset's model: its floors are not in the floors table. */
  readonly comparison?: boolean;
  /** Why this row is a subset or uses latency mode (printed under the table). */
  readonly note?: string;
}

/** The rows the pipeline regenerates, in table order. A new model or dataset is one line here. */
export const RESULTS_ROWS: readonly ResultsRow[] = [
  { model: 'mnist-cnn', set: 'mnist' },
  {
    model: 'mnist-tenseal',
    set: 'mnist',
    comparison: true,
    note: 'the TenSEAL tutorial net (conv 1→4 7×7/3 → x² → dense 256→64 → x² → dense), for comparison with TenSEAL (97.48% in its tutorial)',
  },
  {
    model: 'mnist-2conv',
    set: 'mnist',
    comparison: true,
    note: 'two-convolution net (conv 1→4 7×7/3 → x² → conv 4→8 3×3 → x² → avgpool → dense), for comparison',
  },
  { model: 'fashion-cnn', set: 'fashion-mnist' },
  { model: 'kmnist-cnn', set: 'kmnist' },
  { model: 'pneumonia-cnn', set: 'pneumoniamnist' },
  { model: 'breast-cnn', set: 'breastmnist' },
  { model: 'ham10000-cnn', set: 'ham10000' },
  {
    model: 'cifar10-x2',
    set: 'cifar10',
    mode: 'latency',
    encN: 1000,
    simN: 1000,
    latencyImages: 11,
    note: 'throughput mode cannot run this net: it takes one ciphertext per input feature, 3,072 ciphertexts of N=16384 (≥ 4.5 GiB in memory, beyond the 4 GiB WebAssembly heap; 2.25 GiB as seeded upload). Encrypted accuracy therefore runs the protected latency plan (the served path, one image per ciphertext) on a seeded 1,000 of the 10,000 test images, one image in flight per core on the he worker pool (`--workers`; each worker holds the same evaluation keys, the client half runs in the main thread); its wall time per image is the ms/image in the encrypted column. Plaintext runs on all 10,000, simulated on a seeded 1,000. The latency column is timed afterwards, alone, on the first 11 of the encrypted images.',
  },
];

/** The evaluation set a model directory is registered with, if any (for `blinddx eval`). */
export function registeredSet(model: string): string | undefined {
  return RESULTS_ROWS.find((r) => r.model === model)?.set;
}

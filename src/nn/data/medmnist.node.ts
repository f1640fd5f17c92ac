import { NnError } from '../errors.ts';
import { dataPath } from './data-dir.node.ts';
import type { ImageDataset } from './dataset.ts';
import { npyToUint8 } from './npy.ts';
import { readNpz } from './npz.node.ts';

/** The MedMNIST v2 sets shipped in `shared/data/medmnist`. */
export type MedMnistName = 'pneumoniamnist' | 'breastmnist';
/** The three official splits. */
export type Split = 'train' | 'val' | 'test';

/** Class names in label order, from the MedMNIST `info.py` of each set. */
export const MEDMNIST_CLASSES: Readonly<Record<MedMnistName, readonly string[]>> = {
  pneumoniamnist: ['normal', 'pneumonia'],
  breastmnist: ['malignant', 'normal, benign'],
};

/**
 * Loads one split of a MedMNIST 28×28 grayscale set. Labels (N,1) are squeezed to (N).
 *
 * @example
 * ```ts
 * const test = loadMedMnist('pneumoniamnist', 'test'); // n 624, 28×28×1, labels 0 normal / 1 pneumonia
 * ```
 */
export function loadMedMnist(name: MedMnistName, split: Split): ImageDataset {
  if (!(name in MEDMNIST_CLASSES))
    throw new NnError('NN_INVALID_ARGUMENT', `loadMedMnist: unknown set ${name}`);
  const arrays = readNpz(dataPath('medmnist', `${name}.npz`));
  const img = arrays.get(`${split}_images`);
  const lab = arrays.get(`${split}_labels`);
  if (img === undefined || lab === undefined) {
    throw new NnError('NN_DATA_FORMAT', `loadMedMnist(${name}): split ${split} missing`);
  }
  const [n, height, width, channels = 1] = img.shape;
  if (!(img.data instanceof Uint8Array) || lab.shape[0] !== n) {
    throw new NnError('NN_DATA_FORMAT', `loadMedMnist(${name}/${split}): unexpected dtype or label count`);
  }
  return { images: img.data, labels: npyToUint8(lab), n, height, width, channels };
}

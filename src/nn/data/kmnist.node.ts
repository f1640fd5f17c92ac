import { NnError } from '../errors.ts';
import { dataPath } from './data-dir.node.ts';
import type { ImageDataset } from './dataset.ts';
import { npyToUint8 } from './npy.ts';
import { readNpz } from './npz.node.ts';

/**
 * Loads the KMNIST test split (the only split whose images are in `shared/data`; key `arr_0`).
 *
 * @example
 * ```ts
 * const test = loadKmnistTest(); // n 10000, 28×28, 1000 per class
 * ```
 */
export function loadKmnistTest(): ImageDataset {
  const img = readNpz(dataPath('kmnist', 'kmnist-test-imgs.npz')).get('arr_0');
  const lab = readNpz(dataPath('kmnist', 'kmnist-test-labels.npz')).get('arr_0');
  if (img === undefined || lab === undefined || !(img.data instanceof Uint8Array)) {
    throw new NnError('NN_DATA_FORMAT', 'loadKmnistTest: arr_0 missing or not uint8');
  }
  const [n, height, width] = img.shape;
  if (lab.shape[0] !== n) throw new NnError('NN_DATA_FORMAT', 'loadKmnistTest: label count differs');
  return { images: img.data, labels: npyToUint8(lab), n, height, width, channels: 1 };
}

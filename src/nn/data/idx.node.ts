import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { NnError } from '../errors.ts';
import { dataPath } from './data-dir.node.ts';
import type { ImageDataset } from './dataset.ts';

function readGz(path: string): Uint8Array {
  try {
    return new Uint8Array(gunzipSync(readFileSync(path)));
  } catch (e) {
    throw new NnError('NN_DATA_NOT_FOUND', `readGz: cannot read ${path}`, { cause: e });
  }
}

/** Parses an (uncompressed) IDX image + label file pair into a dataset. */
export function parseIdx(imagesBytes: Uint8Array, labelsBytes: Uint8Array, what = 'idx'): ImageDataset {
  const iv = new DataView(imagesBytes.buffer, imagesBytes.byteOffset, imagesBytes.byteLength);
  const lv = new DataView(labelsBytes.buffer, labelsBytes.byteOffset, labelsBytes.byteLength);
  if (iv.getInt32(0) !== 2051 || lv.getInt32(0) !== 2049) {
    throw new NnError('NN_DATA_FORMAT', `parseIdx(${what}): bad magic`);
  }
  const n = iv.getInt32(4);
  const height = iv.getInt32(8);
  const width = iv.getInt32(12);
  if (lv.getInt32(4) !== n || imagesBytes.length < 16 + n * height * width || labelsBytes.length < 8 + n) {
    throw new NnError('NN_DATA_FORMAT', `parseIdx(${what}): counts or sizes disagree`);
  }
  return {
    images: imagesBytes.subarray(16, 16 + n * height * width),
    labels: labelsBytes.subarray(8, 8 + n),
    n,
    height,
    width,
    channels: 1,
  };
}

/**
 * Loads MNIST or Fashion-MNIST (gzipped IDX) from the shared data folder.
 *
 * @example
 * ```ts
 * const test = loadIdxDataset('fashion-mnist', 'test'); // n 10000, 28×28
 * ```
 */
export function loadIdxDataset(name: 'mnist' | 'fashion-mnist', split: 'train' | 'test'): ImageDataset {
  const prefix = split === 'train' ? 'train' : 't10k';
  return parseIdx(
    readGz(dataPath(name, `${prefix}-images-idx3-ubyte.gz`)),
    readGz(dataPath(name, `${prefix}-labels-idx1-ubyte.gz`)),
    `${name}/${split}`,
  );
}

import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { NnError } from '../errors.ts';
import { dataPath } from './data-dir.node.ts';
import type { ImageDataset } from './dataset.ts';

/** CIFAR-10 class names in the standard index order (label = index). */
export const CIFAR10_CLASSES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
] as const;

/** Regular files of an (uncompressed) ustar archive, in archive order. */
export function readTarEntries(tar: Uint8Array, what = 'tar'): { name: string; data: Uint8Array }[] {
  const out: { name: string; data: Uint8Array }[] = [];
  const dec = new TextDecoder('latin1');
  const str = (o: number, n: number) => dec.decode(tar.subarray(o, o + n)).replace(/\0.*$/s, '');
  let p = 0;
  while (p + 512 <= tar.length) {
    if (tar[p] === 0) break; // two zero blocks end the archive
    const size = Number.parseInt(str(p + 124, 12).trim() || '0', 8);
    if (!Number.isFinite(size) || p + 512 + size > tar.length) {
      throw new NnError('NN_DATA_FORMAT', `readTarEntries(${what}): bad header at ${p}`);
    }
    const type = String.fromCharCode(tar[p + 156]);
    const prefix = str(p + 345, 155);
    const name = (prefix === '' ? '' : `${prefix}/`) + str(p, 100);
    if (type === '0' || type === '\0') out.push({ name, data: tar.subarray(p + 512, p + 512 + size) });
    p += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/**
 * Loads the CIFAR-10 JPEG tarball of one split (32×32 RGB, HWC uint8; lossy JPEG, see the data README).
 * Images are ordered by class, then file name. Decoding the 50,000 training JPEGs takes a while.
 *
 * @example
 * ```ts
 * const test = loadCifar10Jpeg('test'); // n 10000, 32×32×3
 * ```
 */
export function loadCifar10Jpeg(split: 'train' | 'test'): ImageDataset {
  const tarPath = dataPath('cifar10', `cifar10-jpeg-${split}.tar.gz`);
  const entries = readTarEntries(new Uint8Array(gunzipSync(readFileSync(tarPath))), tarPath)
    .map((e) => ({ ...e, m: /\/([a-z]+)\/(\d+)\.jpg$/.exec(e.name) }))
    .filter((e) => e.m !== null)
    .map((e) => ({
      data: e.data,
      label: CIFAR10_CLASSES.indexOf(e.m![1] as never),
      idx: Number(e.m![2]),
      name: e.name,
    }))
    .sort((a, b) => a.label - b.label || a.idx - b.idx);
  const n = entries.length;
  const images = new Uint8Array(n * 32 * 32 * 3);
  const labels = new Uint8Array(n);
  entries.forEach((e, i) => {
    if (e.label < 0) throw new NnError('NN_DATA_FORMAT', `loadCifar10Jpeg: unknown class in ${e.name}`);
    const img = jpeg.decode(e.data, { useTArray: true, formatAsRGBA: false });
    if (img.width !== 32 || img.height !== 32 || img.data.length !== 32 * 32 * 3) {
      throw new NnError('NN_DATA_FORMAT', `loadCifar10Jpeg: ${e.name} is ${img.width}×${img.height}`);
    }
    images.set(img.data, i * 3072);
    labels[i] = e.label;
  });
  return { images, labels, n, height: 32, width: 32, channels: 3 };
}

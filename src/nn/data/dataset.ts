/**
 * An in-memory image dataset: `n` images of `channels × height × width`, stored sample-major.
 * Pixels are HWC (channel last) when `channels > 1`; uint8 0..255 unless a loader says otherwise.
 */
export interface ImageDataset {
  readonly images: Float32Array | Uint8Array;
  readonly labels: Uint8Array;
  readonly n: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
}

/** Per-class counts of `labels` (index = class id), for checking splits and weighting losses. */
export function classCounts(labels: Uint8Array, numClasses?: number): number[] {
  let k = numClasses ?? 0;
  for (const l of labels) if (l + 1 > k) k = l + 1;
  const counts = new Array<number>(k).fill(0);
  for (const l of labels) counts[l]++;
  return counts;
}

/**
 * The rows `idx` of `ds`, in that order, as a new dataset (pixels copied into a `Uint8Array`: for
 * the uint8 datasets the loaders give).
 */
export function subsetDataset(ds: ImageDataset, idx: ArrayLike<number>): ImageDataset {
  const size = ds.height * ds.width * ds.channels;
  const images = new Uint8Array(idx.length * size);
  const labels = new Uint8Array(idx.length);
  for (let j = 0; j < idx.length; j++) {
    const i = idx[j];
    images.set(ds.images.subarray(i * size, (i + 1) * size), j * size);
    labels[j] = ds.labels[i];
  }
  return { images, labels, n: idx.length, height: ds.height, width: ds.width, channels: ds.channels };
}

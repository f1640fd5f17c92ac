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

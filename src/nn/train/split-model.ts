import type { ImageDataset } from '../data/dataset.ts';
import { NnError } from '../errors.ts';
import { normalizePixel, type PreprocessSpec } from '../preprocess.ts';
import type { TensorData } from './fit.ts';
import type { LayerConfig } from './layer.ts';

/**
 * The backbone of the demo split models: three 3×3 conv blocks (ReLU, max-pool), global average
 * pooling and a dense projection to the embedding (ReLU). Everything here runs in cleartext on the
 * client, so ReLU and max-pool are fine. `width` scales the channel counts (w, 2w, 4w).
 */
export function backboneLayers(embeddingDim: number, width = 16): LayerConfig[] {
  if (!Number.isInteger(embeddingDim) || embeddingDim < 1 || embeddingDim > 4096) {
    throw new NnError('NN_INVALID_ARGUMENT', `backboneLayers: embeddingDim ${embeddingDim} out of range`);
  }
  const conv = (c: number): LayerConfig => ({
    type: 'conv2d',
    outChannels: c,
    kernel: 3,
    stride: 1,
    padding: 1,
  });
  return [
    conv(width),
    { type: 'relu' },
    { type: 'maxpool', kernel: 2, stride: 2 },
    conv(2 * width),
    { type: 'relu' },
    { type: 'maxpool', kernel: 2, stride: 2 },
    conv(4 * width),
    { type: 'relu' },
    { type: 'gap' },
    { type: 'dense', units: embeddingDim },
    { type: 'relu' },
  ];
}

/** Grayscale mean and standard deviation of a uint8 dataset on the [0, 1] scale, rounded to 4 digits. */
export function datasetStats(ds: ImageDataset): { mean: number; std: number } {
  let s = 0;
  let s2 = 0;
  for (const v of ds.images) {
    const f = v / 255;
    s += f;
    s2 += f * f;
  }
  const n = ds.images.length;
  const mean = s / n;
  const std = Math.sqrt(Math.max(s2 / n - mean * mean, 1e-12));
  return { mean: Number(mean.toFixed(4)), std: Number(std.toFixed(4)) };
}

/**
 * Normalises a uint8 grayscale dataset already at the backbone size with the same
 * {@link normalizePixel} the client preprocessing uses.
 */
export function toTensorData(ds: ImageDataset, spec: PreprocessSpec): TensorData {
  if (ds.channels !== spec.channels || ds.width !== spec.width || ds.height !== spec.height) {
    throw new NnError(
      'NN_SHAPE_MISMATCH',
      `toTensorData: dataset ${ds.width}×${ds.height}×${ds.channels} != spec`,
    );
  }
  if (ds.channels !== 1)
    throw new NnError('NN_INVALID_ARGUMENT', 'toTensorData: only grayscale datasets here');
  const x = new Float32Array(ds.images.length);
  for (let i = 0; i < x.length; i++) x[i] = normalizePixel(ds.images[i], spec.mean[0], spec.std[0]);
  return { x, labels: ds.labels, n: ds.n, shape: [1, ds.height, ds.width] };
}

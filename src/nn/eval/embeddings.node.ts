import * as ort from 'onnxruntime-node';
import type { ImageDataset } from '../data/dataset.ts';
import { NnError } from '../errors.ts';
import { type PreprocessSpec, preprocessImage } from '../preprocess.ts';

/**
 * Runs the client half of a split model — preprocessing and the ONNX backbone in onnxruntime —
 * over a dataset and returns the embeddings (n × d, row-major, float32 as the backbone emits).
 */
export async function computeEmbeddings(
  backbone: Uint8Array,
  preprocessing: PreprocessSpec,
  ds: ImageDataset,
  opts: { limit?: number; batchSize?: number } = {},
): Promise<{ n: number; d: number; data: Float32Array }> {
  const n = Math.min(ds.n, opts.limit ?? ds.n);
  const batchSize = opts.batchSize ?? 256;
  const session = await ort.InferenceSession.create(backbone);
  const { width, height, channels } = preprocessing;
  const per = width * height * channels;
  const px = ds.width * ds.height * ds.channels;
  const chunks: Float32Array[] = [];
  let d = 0;
  try {
    for (let s = 0; s < n; s += batchSize) {
      const b = Math.min(batchSize, n - s);
      const input = new Float32Array(b * per);
      for (let i = 0; i < b; i++) {
        const data = ds.images.subarray((s + i) * px, (s + i + 1) * px);
        if (!(data instanceof Uint8Array))
          throw new NnError('NN_INVALID_ARGUMENT', 'computeEmbeddings: uint8 images expected');
        input.set(
          preprocessImage(preprocessing, {
            data,
            width: ds.width,
            height: ds.height,
            channels: ds.channels as 1 | 3,
          }),
          i * per,
        );
      }
      const out = await session.run({
        image: new ort.Tensor('float32', input, [b, channels, height, width]),
      });
      const emb = out.embedding.data as Float32Array;
      d = emb.length / b;
      chunks.push(Float32Array.from(emb));
    }
  } finally {
    await session.release();
  }
  const data = new Float32Array(n * d);
  let off = 0;
  for (const c of chunks) {
    data.set(c, off);
    off += c.length;
  }
  return { n, d, data };
}

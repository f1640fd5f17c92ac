import { HeContext } from '../../../he/context.ts';
import { generateKeys } from '../../../he/keys.ts';
import type { ImageDataset } from '../../data/dataset.ts';
import { NnError } from '../../errors.ts';
import { decryptResponse, encryptInputSeeded } from '../client.ts';
import type { CnnModel } from '../ir.ts';
import type { CnnPlan } from '../plan.ts';
import {
  type EncryptedResult,
  LogitScore,
  modelImage,
  type PlainResult,
  type Progress,
  paramsText,
} from '../results-eval.ts';
import { CnnPool } from './cnn-pool.ts';

/**
 * Encrypted accuracy of the latency plan (one image per ciphertext, the served path) on many
 * images, with `workers` images in flight on the he worker pool: the client half (seeded
 * encryption, decryption, comparison with the float64 twin in `plain`) runs here, the server half
 * (`EncryptedCnn.infer`) in the workers, from the same bytes a client would upload. For nets whose
 * throughput mode does not fit in memory (CIFAR-10), this is what makes ≥ 1,000 encrypted images
 * an hour's run on 2 cores instead of two.
 *
 * `msPerImage` is wall time / n with `workers` in flight (a throughput figure); single-image
 * latency must be timed alone (`evaluateLatency`), which is why this returns no latency fields.
 */
export async function evaluateLatencyOnPool(
  model: CnnModel,
  ds: ImageDataset,
  indices: readonly number[],
  plain: PlainResult,
  plan: CnnPlan,
  opts: { workers: number; onProgress?: Progress },
): Promise<EncryptedResult> {
  const n = indices.length;
  if (n < 1) throw new NnError('NN_INVALID_ARGUMENT', 'cannot run the latency plan on the pool: no image');
  if (!(Number.isInteger(opts.workers) && opts.workers >= 1))
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot start the pool: workers must be ≥ 1, got ${opts.workers}`,
    );
  const { client, server } = plan;
  using ctx = await HeContext.create(client.params);
  using keys = generateKeys(ctx, { relin: client.relin, galoisSteps: client.galoisSteps });
  await using pool = await CnnPool.create(server, client, keys.exportPublic(), opts.workers);
  // Warm-up on every worker (encodes the weights once, as a server does per model): not timed.
  const warm = encryptInputSeeded(ctx, keys, client, modelImage(model, ds, indices[0]));
  await Promise.all(Array.from({ length: opts.workers }, () => pool.infer(warm)));

  const got: Float64Array[] = new Array(n);
  let next = 0;
  let done = 0;
  const t0 = performance.now();
  const lane = async () => {
    for (let j = next++; j < n; j = next++) {
      const up = encryptInputSeeded(ctx, keys, client, modelImage(model, ds, indices[j]));
      got[j] = decryptResponse(ctx, keys, client, await pool.infer(up));
      done++;
      if (done % 10 === 0 || done === n) opts.onProgress?.('encrypted (latency, pool)', done, n);
    }
  };
  await Promise.all(Array.from({ length: opts.workers }, lane));
  const wallMs = performance.now() - t0;

  const score = new LogitScore();
  indices.forEach((i, j) => {
    score.add(got[j], plain.logits[j], ds.labels[i], plain.preds[j]);
  });
  return {
    mode: 'latency',
    protected: client.protection !== undefined,
    params: paramsText(client.params),
    ...score.result(),
    msPerImage: wallMs / n,
  };
}

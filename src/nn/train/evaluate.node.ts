import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageDataset } from '../data/dataset.ts';
import { loadMedMnist, type MedMnistName, type Split } from '../data/medmnist.node.ts';
import { NnError } from '../errors.ts';
import { computeEmbeddings } from '../eval/embeddings.node.ts';
import { evaluateHeadPlain, type HeadSpec, probabilities, validateHeadSpec } from '../head.ts';
import type { PreprocessSpec } from '../preprocess.ts';
import { accuracy, rocAuc } from './metrics.ts';
import { type SplitMetrics, type SplitModelManifest, validateSplitManifest } from './split-manifest.ts';

/** Hex sha256 of bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Runs the client path on a dataset: {@link preprocessImage} per image, the ONNX backbone in
 * onnxruntime (batched), then the head in float64. Returns accuracy and AUC (binary: probability of
 * class 1; multiclass: accuracy only, AUC NaN).
 */
export async function evaluateSplitModel(
  backbone: Uint8Array,
  head: HeadSpec,
  preprocessing: PreprocessSpec,
  ds: ImageDataset,
  batchSize = 256,
): Promise<SplitMetrics> {
  const emb = await computeEmbeddings(backbone, preprocessing, ds, { batchSize });
  const d = head.inputDim;
  if (emb.d !== d) {
    throw new NnError(
      'NN_SHAPE_MISMATCH',
      `evaluateSplitModel: backbone gives ${emb.d} values, head wants ${d}`,
    );
  }
  const scores = new Float64Array(ds.n);
  const predicted = new Uint8Array(ds.n);
  for (let i = 0; i < ds.n; i++) {
    const p = probabilities(head, evaluateHeadPlain(head, emb.data.subarray(i * d, (i + 1) * d)));
    let best = 0;
    for (let j = 1; j < p.length; j++) if (p[j] > p[best]) best = j;
    predicted[i] = best;
    scores[i] = p[1];
  }
  const binary = head.outputs === 1 || head.outputs === 2;
  return {
    n: ds.n,
    accuracy: accuracy(predicted, ds.labels),
    auc: binary ? rocAuc(scores, ds.labels) : Number.NaN,
  };
}

/** A model folder read back from disk, digests checked against `model.json`. */
export interface LoadedSplitModel {
  manifest: SplitModelManifest;
  backbone: Uint8Array;
  head: HeadSpec;
}

/** Reads `model.json`, `backbone.onnx` and `head.json` from `dir` and verifies their sha256 digests. */
export function loadSplitModelDir(dir: string): LoadedSplitModel {
  let manifest: SplitModelManifest;
  try {
    manifest = validateSplitManifest(JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')));
  } catch (e) {
    if (e instanceof NnError) throw e;
    throw new NnError('NN_MODEL_INVALID', `loadSplitModelDir: cannot read ${join(dir, 'model.json')}`, {
      cause: e,
    });
  }
  const backbone = new Uint8Array(readFileSync(join(dir, manifest.backbone.file)));
  const headBytes = new Uint8Array(readFileSync(join(dir, manifest.head.file)));
  for (const [what, bytes, want] of [
    ['backbone', backbone, manifest.backbone.sha256],
    ['head', headBytes, manifest.head.sha256],
  ] as const) {
    if (sha256Hex(bytes) !== want)
      throw new NnError('NN_MODEL_INVALID', `loadSplitModelDir: ${what} digest mismatch in ${dir}`);
  }
  const head = validateHeadSpec(JSON.parse(new TextDecoder().decode(headBytes)));
  return { manifest, backbone, head };
}

/**
 * Recomputes the metrics of a committed MedMNIST split model on one split.
 *
 * @example
 * ```ts
 * const m = await evaluateModelDir('models/pneumoniamnist', 'test'); // { n: 624, accuracy, auc }
 * ```
 */
export async function evaluateModelDir(dir: string, split: Split = 'test'): Promise<SplitMetrics> {
  const { manifest, backbone, head } = loadSplitModelDir(dir);
  const ds = loadMedMnist(manifest.dataset as MedMnistName, split);
  return evaluateSplitModel(backbone, head, manifest.preprocessing, ds);
}

import { NnError } from '../errors.ts';
import type { HeadActivation } from '../head.ts';
import { type PreprocessSpec, validatePreprocessSpec } from '../preprocess.ts';

/** Accuracy and ROC AUC of one split, measured with the exported ONNX backbone and the float64 head. */
export interface SplitMetrics {
  readonly n: number;
  readonly accuracy: number;
  readonly auc: number;
}

/**
 * The public manifest `model.json` of a split model. It names the files and their sha256 digests,
 * so a client can check that the backbone it runs is the one the metrics were measured with.
 * `head.json` stays with the vendor; only its digest is public.
 */
export interface SplitModelManifest {
  readonly format: 'blinddx-split-model/1';
  readonly name: string;
  readonly dataset: string;
  readonly task: 'binary' | 'multiclass';
  readonly classes: string[];
  readonly preprocessing: PreprocessSpec;
  readonly backbone: {
    readonly file: string;
    readonly sha256: string;
    readonly bytes: number;
    readonly input: { readonly name: string; readonly shape: (number | string)[] };
    readonly output: { readonly name: string; readonly shape: (number | string)[] };
    readonly opset: number;
    readonly parameters: number;
  };
  readonly embeddingDim: number;
  readonly head: {
    readonly file: string;
    readonly sha256: string;
    readonly bytes: number;
    readonly kind: 'linear' | 'mlp';
    readonly outputs: number;
    readonly activation: HeadActivation;
  };
  readonly metrics: {
    readonly measuredWith: string;
    readonly threshold: number;
    readonly train: SplitMetrics;
    readonly val: SplitMetrics;
    readonly test: SplitMetrics;
  };
  readonly training: {
    readonly seed: number;
    readonly command: string;
    readonly epochs: number;
    readonly bestEpoch: number;
    readonly selectedOn: string;
    readonly seconds: number;
    readonly [k: string]: unknown;
  };
}

/** Checks the fields of a parsed `model.json` that consumers rely on; `NN_MODEL_INVALID` otherwise. */
export function validateSplitManifest(json: unknown): SplitModelManifest {
  const m = json as Partial<SplitModelManifest> | null;
  const bad = (f: string) => new NnError('NN_MODEL_INVALID', `validateSplitManifest: invalid ${f}`);
  if (typeof m !== 'object' || m === null) throw bad('manifest (not an object)');
  if (m.format !== 'blinddx-split-model/1') throw bad('format');
  if (typeof m.name !== 'string' || typeof m.dataset !== 'string') throw bad('name/dataset');
  if (!Array.isArray(m.classes) || m.classes.length < 2) throw bad('classes');
  validatePreprocessSpec(m.preprocessing);
  for (const f of ['backbone', 'head'] as const) {
    const e = m[f];
    if (
      typeof e?.file !== 'string' ||
      /[/\\]|^\.\.?$/.test(e.file) ||
      !/^[0-9a-f]{64}$/.test(e.sha256 ?? '')
    ) {
      throw bad(`${f}.file/sha256`);
    }
  }
  if (!Number.isInteger(m.embeddingDim) || (m.embeddingDim as number) < 1) throw bad('embeddingDim');
  return m as SplitModelManifest;
}

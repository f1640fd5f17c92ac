import { NnError } from './errors.ts';
import { argmax, softmax } from './logits.ts';

/** Output non-linearity applied by the client after decryption (never under encryption). */
export type HeadActivation = 'sigmoid' | 'softmax';

/**
 * A linear / logistic head: `logits = W · embedding + b` with `W` `K × d`. Binary tasks use K = 1
 * with a sigmoid (probability of `classes[1]`); K ≥ 2 uses softmax over `classes`.
 */
export interface LinearHeadSpec {
  readonly kind: 'linear';
  readonly inputDim: number;
  readonly outputs: number;
  readonly weights: number[][];
  readonly bias: number[];
  readonly activation: HeadActivation;
  readonly classes: string[];
}

/** One affine layer of an {@link MlpHeadSpec}: `weights` is `outputs × inputDim`. */
export interface MlpHeadLayer {
  readonly inputDim: number;
  readonly outputs: number;
  readonly weights: number[][];
  readonly bias: number[];
}

/**
 * A small MLP head for encrypted evaluation: affine layers with a polynomial activation between
 * them (`hiddenActivation.coefficients` in ascending powers, e.g. `[0, 0, 1]` = x²), no activation
 * after the last layer (the client applies `activation` after decryption).
 */
export interface MlpHeadSpec {
  readonly kind: 'mlp';
  readonly inputDim: number;
  readonly outputs: number;
  readonly layers: MlpHeadLayer[];
  readonly hiddenActivation: { readonly kind: 'polynomial'; readonly coefficients: number[] };
  readonly activation: HeadActivation;
  readonly classes: string[];
}

/** The vendor's private head of a split model (`head.json`). */
export type HeadSpec = LinearHeadSpec | MlpHeadSpec;

function fail(path: string, why: string): never {
  throw new NnError('NN_HEAD_INVALID', `validateHeadSpec: ${path} ${why}`);
}

function checkMatrix(w: unknown, rows: number, cols: number, path: string): void {
  if (!Array.isArray(w) || w.length !== rows) fail(path, `must be an array of ${rows} rows`);
  (w as unknown[]).forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== cols) fail(`${path}[${i}]`, `must have ${cols} numbers`);
    for (const v of row)
      if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${path}[${i}]`, 'has a non-finite value');
  });
}

function checkVector(b: unknown, n: number, path: string): void {
  if (!Array.isArray(b) || b.length !== n) fail(path, `must be an array of ${n} numbers`);
  for (const v of b as unknown[])
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, 'has a non-finite value');
}

function checkDim(v: unknown, path: string): number {
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 1 << 16)
    fail(path, 'must be an integer in 1..65536');
  return v as number;
}

/**
 * Checks a parsed `head.json` (untrusted input) and returns it typed. Every failure is an
 * {@link NnError} with code `NN_HEAD_INVALID` naming the offending field.
 *
 * @example
 * ```ts
 * const head = validateHeadSpec(JSON.parse(text));
 * ```
 */
export function validateHeadSpec(json: unknown): HeadSpec {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('head', 'must be an object');
  const h = json as Record<string, unknown>;
  const d = checkDim(h.inputDim, 'inputDim');
  const k = checkDim(h.outputs, 'outputs');
  if (h.activation !== 'sigmoid' && h.activation !== 'softmax')
    fail('activation', 'must be "sigmoid" or "softmax"');
  if (h.activation === 'sigmoid' && k !== 1) fail('activation', 'sigmoid needs outputs = 1');
  if (h.activation === 'softmax' && k < 2) fail('activation', 'softmax needs outputs ≥ 2');
  const wantClasses = k === 1 ? 2 : k;
  if (
    !Array.isArray(h.classes) ||
    h.classes.length !== wantClasses ||
    !h.classes.every((c) => typeof c === 'string')
  ) {
    fail('classes', `must be ${wantClasses} strings`);
  }
  if (h.kind === 'linear') {
    checkMatrix(h.weights, k, d, 'weights');
    checkVector(h.bias, k, 'bias');
    return json as LinearHeadSpec;
  }
  if (h.kind === 'mlp') {
    if (!Array.isArray(h.layers) || h.layers.length < 1) fail('layers', 'must be a non-empty array');
    let prev = d;
    (h.layers as unknown[]).forEach((l, i) => {
      const layer = l as Record<string, unknown>;
      if (typeof l !== 'object' || l === null) fail(`layers[${i}]`, 'must be an object');
      const li = checkDim(layer.inputDim, `layers[${i}].inputDim`);
      const lo = checkDim(layer.outputs, `layers[${i}].outputs`);
      if (li !== prev) fail(`layers[${i}].inputDim`, `must equal the previous width ${prev}`);
      checkMatrix(layer.weights, lo, li, `layers[${i}].weights`);
      checkVector(layer.bias, lo, `layers[${i}].bias`);
      prev = lo;
    });
    if (prev !== k) fail('layers', `last layer must have ${k} outputs`);
    const act = h.hiddenActivation as Record<string, unknown> | undefined;
    if (act?.kind !== 'polynomial') fail('hiddenActivation.kind', 'must be "polynomial"');
    const c = act!.coefficients;
    if (!Array.isArray(c) || c.length < 1 || c.length > 8)
      fail('hiddenActivation.coefficients', 'must have 1..8 numbers');
    checkVector(c, (c as unknown[]).length, 'hiddenActivation.coefficients');
    return json as MlpHeadSpec;
  }
  return fail('kind', 'must be "linear" or "mlp"');
}

function affine(w: number[][], b: number[], x: ArrayLike<number>): Float64Array {
  const out = new Float64Array(b.length);
  for (let i = 0; i < b.length; i++) {
    const row = w[i];
    let s = b[i];
    for (let j = 0; j < row.length; j++) s += row[j] * x[j];
    out[i] = s;
  }
  return out;
}

/**
 * Evaluates the head in float64 on one embedding and returns its logits (length `outputs`). This is
 * the plaintext twin that encrypted evaluation is compared against.
 *
 * @example
 * ```ts
 * const logits = evaluateHeadPlain(head, embedding); const p = probabilities(head, logits);
 * ```
 */
export function evaluateHeadPlain(spec: HeadSpec, embedding: ArrayLike<number>): Float64Array {
  if (embedding.length !== spec.inputDim) {
    throw new NnError(
      'NN_SHAPE_MISMATCH',
      `evaluateHeadPlain: embedding has ${embedding.length} values, head wants ${spec.inputDim}`,
    );
  }
  if (spec.kind === 'linear') return affine(spec.weights, spec.bias, embedding);
  const coeffs = spec.hiddenActivation.coefficients;
  let h: ArrayLike<number> = embedding;
  spec.layers.forEach((layer, i) => {
    const z = affine(layer.weights, layer.bias, h);
    if (i < spec.layers.length - 1) {
      for (let j = 0; j < z.length; j++) {
        // Horner in ascending-power coefficients.
        let v = 0;
        for (let c = coeffs.length - 1; c >= 0; c--) v = v * z[j] + coeffs[c];
        z[j] = v;
      }
    }
    h = z;
  });
  return h as Float64Array;
}

/**
 * Class probabilities from logits: for a sigmoid head `[1 − p, p]` (so the result always has one entry
 * per class), for softmax the usual stable softmax.
 */
export function probabilities(spec: HeadSpec, logits: ArrayLike<number>): Float64Array {
  if (spec.activation === 'sigmoid') {
    const p = 1 / (1 + Math.exp(-logits[0]));
    return Float64Array.from([1 - p, p]);
  }
  return softmax(logits);
}

/** Index of the predicted class (threshold 0.5 for sigmoid heads). */
export function predictedClass(spec: HeadSpec, logits: ArrayLike<number>): number {
  return argmax(probabilities(spec, logits));
}

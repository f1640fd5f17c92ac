/**
 * What a client does with decrypted logits: the predicted class and class probabilities.
 * Browser-safe (no Node built-ins); one copy for the client, the evaluation scripts and the results.
 */

/** Index of the largest value (the first one on a tie; 0 for an empty input). */
export function argmax(v: ArrayLike<number>): number {
  let k = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[k]) k = i;
  return k;
}

/** Softmax, stable: the largest logit is subtracted before exponentiating, so no term overflows. */
export function softmax(logits: ArrayLike<number>): Float64Array {
  let m = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) m = Math.max(m, logits[i]);
  const out = new Float64Array(logits.length);
  let s = 0;
  for (let i = 0; i < logits.length; i++) s += out[i] = Math.exp(logits[i] - m);
  for (let i = 0; i < out.length; i++) out[i] /= s;
  return out;
}

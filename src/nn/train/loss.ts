/** Loss value and its gradient with respect to the logits (same layout as the logits). */
export interface LossResult {
  loss: number;
  grad: Float32Array;
}

/**
 * Weighted sigmoid binary cross-entropy for one logit per sample: L = mean_b w[y_b]·(softplus(z) − y·z).
 * Class weights counter imbalance (e.g. 1214 normal vs 3494 pneumonia). Stable for large |z|.
 */
export function sigmoidBce(
  logits: Float32Array,
  labels: ArrayLike<number>,
  classWeights = [1, 1],
): LossResult {
  const n = logits.length;
  const grad = new Float32Array(n);
  let loss = 0;
  for (let b = 0; b < n; b++) {
    const z = logits[b];
    const y = labels[b];
    const w = classWeights[y];
    const softplus = z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
    loss += w * (softplus - y * z);
    const p = 1 / (1 + Math.exp(-z));
    grad[b] = (w * (p - y)) / n;
  }
  return { loss: loss / n, grad };
}

/** Weighted softmax cross-entropy for `K` logits per sample (row-major `[B, K]`). */
export function softmaxCe(
  logits: Float32Array,
  labels: ArrayLike<number>,
  k: number,
  classWeights?: number[],
): LossResult {
  const n = logits.length / k;
  const grad = new Float32Array(logits.length);
  let loss = 0;
  for (let b = 0; b < n; b++) {
    const o = b * k;
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, logits[o + j]);
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.exp(logits[o + j] - m);
    const y = labels[b];
    const w = classWeights?.[y] ?? 1;
    loss += w * (m + Math.log(s) - logits[o + y]);
    for (let j = 0; j < k; j++) grad[o + j] = (w * (Math.exp(logits[o + j] - m) / s - (j === y ? 1 : 0))) / n;
  }
  return { loss: loss / n, grad };
}

/** Inverse-frequency class weights normalised so that the weighted sample count equals the total. */
export function balancedClassWeights(counts: readonly number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => (c === 0 ? 0 : total / (counts.length * c)));
}

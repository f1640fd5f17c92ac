/**
 * Area under the ROC curve (Mann–Whitney U with tie correction) for binary labels and scores.
 * Returns NaN when one class is absent.
 *
 * @example
 * ```ts
 * rocAuc([0.1, 0.9, 0.4], [0, 1, 1]); // 1
 * ```
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let pos = 0;
  let rankSumPos = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[idx[j + 1]] === scores[idx[i]]) j++;
    const avgRank = (i + j) / 2 + 1; // 1-based average rank of the tie group
    for (let t = i; t <= j; t++) {
      if (labels[idx[t]] === 1) {
        pos++;
        rankSumPos += avgRank;
      }
    }
    i = j + 1;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return Number.NaN;
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Fraction of `predicted[i] === labels[i]`. */
export function accuracy(predicted: ArrayLike<number>, labels: ArrayLike<number>): number {
  let ok = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) ok++;
  return labels.length === 0 ? Number.NaN : ok / labels.length;
}

/**
 * Macro-averaged one-vs-rest AUC for K-class probabilities (`[N, K]` row-major); for K = 2 this is the
 * binary AUC of class 1.
 */
export function macroAuc(probs: ArrayLike<number>, labels: ArrayLike<number>, k: number): number {
  const n = labels.length;
  if (k <= 2) {
    const s = new Float64Array(n);
    for (let i = 0; i < n; i++) s[i] = k === 1 ? probs[i] : probs[i * 2 + 1];
    return rocAuc(s, labels);
  }
  let sum = 0;
  let used = 0;
  for (let c = 0; c < k; c++) {
    const s = new Float64Array(n);
    const l = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = probs[i * k + c];
      l[i] = labels[i] === c ? 1 : 0;
    }
    const a = rocAuc(s, l);
    if (!Number.isNaN(a)) {
      sum += a;
      used++;
    }
  }
  return used === 0 ? Number.NaN : sum / used;
}

/** Mean per-class recall over the classes that occur in `labels` (NaN for no samples). */
export function balancedAccuracy(predicted: ArrayLike<number>, labels: ArrayLike<number>): number {
  const hit = new Map<number, [number, number]>();
  for (let i = 0; i < labels.length; i++) {
    const e = hit.get(labels[i]) ?? [0, 0];
    e[1]++;
    if (predicted[i] === labels[i]) e[0]++;
    hit.set(labels[i], e);
  }
  if (hit.size === 0) return Number.NaN;
  let s = 0;
  for (const [ok, n] of hit.values()) s += ok / n;
  return s / hit.size;
}

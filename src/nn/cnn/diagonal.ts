import { nextPow2 } from '../../he/encoder.ts';
import { NnError } from '../errors.ts';
import type { AffineMap } from './affine.ts';
import type { Stage } from './plan.ts';

/**
 * Plans y = M·x + b on a slot vector by the diagonal method with baby-step/giant-step.
 *
 * The input holds element j at slot `inPositions[j]` of a period `inPeriod` (other slots may hold
 * anything: their matrix columns are zero). With m' = nextPow2(rows) and P = max(inPeriod, m'), the
 * m×P position matrix W is split into m' "extended diagonals" of length P
 *
 * ```
 * d_t[i] = W[i mod m'][(i + t) mod P]      t = 0 … m'−1
 * z      = Σ_t d_t ⊙ rot(x, t)             z[i] = Σ_t W[i mod m'][i+t]·x[i+t]
 * y[i]   = Σ_{k < P/m'} z[i + k·m']        rotation tree, steps P/2, …, m'
 * ```
 *
 * so row i ends at slot i, repeated with period m'. With t = g·B + b the sum becomes
 * Σ_g rot(Σ_b rot(d_t, −g·B) ⊙ rot(x, b), g·B): |babies| + |giants| rotations instead of m'.
 * All-zero diagonals are skipped (convolutions as matrices are sparse), and B is chosen to
 * minimize the rotations for the diagonals that remain.
 */
export function planLinear(
  map: AffineMap,
  inPositions: readonly number[],
  inPeriod: number,
  slots: number,
): { stage: Extract<Stage, { kind: 'linear' }>; outPositions: number[] } {
  if (inPositions.length !== map.n) {
    throw new NnError(
      'NN_SHAPE_MISMATCH',
      `cannot plan linear stage: ${inPositions.length} input positions for ${map.n} columns`,
    );
  }
  const m = map.m;
  const mp = nextPow2(m);
  const P = Math.max(inPeriod, mp);
  if (P > slots) {
    throw new NnError('NN_INVALID_ARGUMENT', `cannot plan linear stage: period ${P} exceeds ${slots} slots`);
  }
  // Position matrix, column-indexed by slot within the period.
  const colOf = new Int32Array(P).fill(-1);
  inPositions.forEach((p, j) => {
    colOf[p] = j;
  });
  const diags = new Map<number, Float64Array>();
  for (let t = 0; t < mp; t++) {
    const d = new Float64Array(P);
    let any = false;
    for (let i = 0; i < P; i++) {
      const row = i % mp;
      if (row >= m) continue;
      const col = colOf[(i + t) % P];
      if (col < 0) continue;
      const v = map.matrix[row * map.n + col];
      if (v !== 0) {
        d[i] = v;
        any = true;
      }
    }
    if (any) diags.set(t, d);
  }
  const ts = [...diags.keys()];
  let best = { B: 1, cost: Number.POSITIVE_INFINITY };
  for (let B = 1; B <= mp; B *= 2) {
    const babies = new Set(ts.map((t) => t % B).filter((b) => b !== 0));
    const giants = new Set(ts.map((t) => Math.floor(t / B)).filter((g) => g !== 0));
    const cost = babies.size + giants.size;
    if (cost < best.cost) best = { B, cost };
  }
  const B = best.B;
  const byGiant = new Map<number, { baby: number; values: number[] }[]>();
  for (const t of ts) {
    const g = Math.floor(t / B);
    const b = t % B;
    const d = diags.get(t)!;
    // Pre-rotate right by g·B so the giant rotation (left by g·B) puts it back in place.
    const shifted = new Array<number>(P);
    for (let i = 0; i < P; i++) shifted[i] = d[(i - g * B + P * 2) % P];
    if (!byGiant.has(g)) byGiant.set(g, []);
    byGiant.get(g)!.push({ baby: b, values: shifted });
  }
  const giants = [...byGiant.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([g, terms]) => ({ step: g * B, terms }));
  const babySteps = [...new Set(ts.map((t) => t % B))].sort((a, b) => a - b);
  const reduceSteps: number[] = [];
  for (let s = P / 2; s >= mp; s /= 2) reduceSteps.push(s);
  const bias = new Array<number>(mp).fill(0);
  for (let i = 0; i < m; i++) bias[i] = map.bias[i];
  return {
    stage: { kind: 'linear', period: P, babySteps, giants, reduceSteps, outPeriod: mp, bias },
    outPositions: Array.from({ length: m }, (_, i) => i),
  };
}

/**
 * Rotation steps a stage performs (what its Galois keys must cover), matching the executor's
 * chained schedule: gaps between consecutive baby steps, gaps between consecutive giant steps (and
 * the smallest giant step), the im2col input shifts' gaps and the rotation-tree steps.
 */
export function stageSteps(stage: Stage): number[] {
  const gaps = (xs: readonly number[]) => {
    const sorted = [0, ...[...xs].filter((v) => v !== 0).sort((a, b) => a - b)];
    return sorted.slice(1).map((v, i) => v - sorted[i]);
  };
  switch (stage.kind) {
    case 'im2col-conv':
      return [...gaps(stage.rotations), ...stage.reduceSteps];
    case 'linear':
      return [...gaps(stage.babySteps), ...gaps(stage.giants.map((g) => g.step)), ...stage.reduceSteps];
    default:
      return [];
  }
}

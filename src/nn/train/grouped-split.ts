import { NnError } from '../errors.ts';
import { Rng } from './rng.ts';

/** Sample indices of a train / validation / test partition. */
export interface SplitIndices {
  readonly train: number[];
  readonly val: number[];
  readonly test: number[];
}

/** Options of {@link groupedSplit}. */
export interface GroupedSplitOptions {
  /** Fraction of groups (per stratum) that go to test, in [0, 1). */
  test: number;
  /** Fraction of groups (per stratum) that go to validation, in [0, 1). */
  val: number;
  seed: number;
}

/**
 * Splits samples into train/val/test so that every group (e.g. a lesion or a patient with several
 * images) lands in exactly one split. Groups are stratified by the label of their first sample:
 * within each label the groups are shuffled with `Rng(seed)` and the first `round(test·n)` go to
 * test, the next `round(val·n)` to validation, the rest to train. With one sample per group this is
 * an ordinary stratified seeded split. Same inputs and seed → same split; indices come out sorted.
 *
 * @example
 * ```ts
 * const s = groupedSplit(lesionIds, labels, { test: 0.15, val: 0.15, seed: 1 });
 * ```
 */
export function groupedSplit(
  groups: ArrayLike<string | number>,
  labels: ArrayLike<number>,
  opts: GroupedSplitOptions,
): SplitIndices {
  if (groups.length !== labels.length) {
    throw new NnError(
      'NN_SHAPE_MISMATCH',
      `groupedSplit: ${groups.length} groups for ${labels.length} labels`,
    );
  }
  const okFrac = (f: number) => Number.isFinite(f) && f >= 0 && f < 1;
  if (!okFrac(opts.test) || !okFrac(opts.val) || opts.test + opts.val >= 1) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `groupedSplit: test ${opts.test} and val ${opts.val} must be fractions summing to < 1`,
    );
  }
  const members = new Map<string | number, number[]>();
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i];
    const m = members.get(g);
    if (m === undefined) members.set(g, [i]);
    else m.push(i);
  }
  // Strata in order of first appearance, groups inside in order of first appearance: deterministic.
  const strata = new Map<number, (string | number)[]>();
  for (const [g, idx] of members) {
    const y = labels[idx[0]];
    const s = strata.get(y);
    if (s === undefined) strata.set(y, [g]);
    else s.push(g);
  }
  const rng = new Rng(opts.seed);
  const out: SplitIndices = { train: [], val: [], test: [] };
  for (const y of [...strata.keys()].sort((a, b) => a - b)) {
    const gs = strata.get(y)!;
    const order = Array.from({ length: gs.length }, (_, i) => i);
    rng.shuffle(order);
    const nTest = Math.round(opts.test * gs.length);
    const nVal = Math.round(opts.val * gs.length);
    order.forEach((k, pos) => {
      const dst = pos < nTest ? out.test : pos < nTest + nVal ? out.val : out.train;
      dst.push(...members.get(gs[k])!);
    });
  }
  for (const a of [out.train, out.val, out.test]) a.sort((p, q) => p - q);
  return out;
}

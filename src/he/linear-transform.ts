import { encodeSlots, nextPow2 } from './encoder.ts';
import { HeError } from './errors.ts';
import type { Evaluator } from './evaluator.ts';
import type { Ciphertext } from './handles.ts';

/** A dense plain matrix, row-major: `rows` outputs × `cols` inputs. */
export interface PlainMatrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: ArrayLike<number>;
}

/** What a matrix–vector product will do, known before any key exists. */
export interface MatVecPlan {
  /** Period of the slot layout (power of two ≥ rows, cols). */
  readonly period: number;
  /** Baby-step count n1; giant steps are multiples of n1. */
  readonly babySteps: number;
  /** Non-zero generalized diagonals, by index in 0…period−1. */
  readonly diagonals: readonly number[];
  /** Exactly the rotation steps needed. */
  readonly galoisSteps: readonly number[];
  /** Levels consumed (one rescale). */
  readonly depth: 1;
}

function checkMatrix(m: PlainMatrix, op: string): void {
  if (
    !Number.isInteger(m.rows) ||
    !Number.isInteger(m.cols) ||
    m.rows < 1 ||
    m.cols < 1 ||
    m.data.length !== m.rows * m.cols
  ) {
    throw new HeError(
      'HE_INVALID_ARGUMENT',
      `cannot ${op}: matrix expected rows×cols data, got ${m.rows}×${m.cols} with ${m.data.length} values`,
    );
  }
  for (let i = 0; i < m.data.length; i++) {
    if (!Number.isFinite(m.data[i]))
      throw new HeError('HE_INVALID_ARGUMENT', `cannot ${op}: matrix value ${i} is not finite`);
  }
}

/** Entry (r, c) of the matrix zero-padded to period×period. */
function entry(m: PlainMatrix, r: number, c: number): number {
  return r < m.rows && c < m.cols ? m.data[r * m.cols + c] : 0;
}

/**
 * Plans y = M·x with the diagonal method and baby-step/giant-step (Halevi–Shoup):
 * with n = n1·n2 and diagonal d_i[j] = M[j][(j+i) mod n],
 * ```
 * y = Σ_g rot( Σ_b rot(d_(g·n1+b), −g·n1) ⊙ rot(x, b), g·n1 )
 * ```
 * so only n1−1 baby rotations of x and n2−1 giant rotations are needed instead of n−1. Zero
 * diagonals are skipped, and only the steps they need are listed.
 */
export function planMatVec(matrix: PlainMatrix, opts: { period?: number } = {}): MatVecPlan {
  checkMatrix(matrix, 'plan matrix–vector product');
  const period = opts.period ?? nextPow2(Math.max(matrix.rows, matrix.cols));
  if (period < Math.max(matrix.rows, matrix.cols) || nextPow2(period) !== period) {
    throw new HeError(
      'HE_INVALID_ARGUMENT',
      `cannot plan matrix–vector product: period ${period} must be a power of two ≥ ${Math.max(matrix.rows, matrix.cols)}`,
    );
  }
  const diagonals: number[] = [];
  for (let i = 0; i < period; i++) {
    let nonzero = false;
    for (let j = 0; j < period && !nonzero; j++) nonzero = entry(matrix, j, (j + i) % period) !== 0;
    if (nonzero) diagonals.push(i);
  }
  const babySteps = 2 ** Math.ceil(Math.log2(Math.sqrt(period)));
  const steps = new Set<number>();
  for (const i of diagonals) {
    const b = i % babySteps;
    const g = i - b;
    if (b !== 0) steps.add(b);
    if (g !== 0) steps.add(g);
  }
  return Object.freeze({
    period,
    babySteps,
    diagonals: Object.freeze(diagonals),
    galoisSteps: Object.freeze([...steps].sort((a, b) => a - b)),
    depth: 1 as const,
  });
}

/** Float64 twin of {@link matVec}. */
export function matVecPlain(matrix: PlainMatrix, x: ArrayLike<number>): Float64Array {
  const y = new Float64Array(matrix.rows);
  for (let r = 0; r < matrix.rows; r++) {
    let s = 0;
    for (let c = 0; c < matrix.cols; c++) s += matrix.data[r * matrix.cols + c] * x[c];
    y[r] = s;
  }
  return y;
}

/**
 * Encrypted y = M·x for x in a slot layout with the plan's period. Consumes one level; the scale
 * is kept exactly (diagonals are encoded at the scale of the prime that the rescale removes), and
 * giant-step rotations run after the rescale, at the lower (cheaper) level.
 */
export function matVec(
  ev: Evaluator,
  x: Ciphertext,
  matrix: PlainMatrix,
  plan: MatVecPlan = planMatVec(matrix),
): Ciphertext {
  const ctx = ev.context;
  if (x.layout.kind !== 'slots' || x.layout.period !== plan.period || x.layout.length < matrix.cols) {
    throw new HeError(
      'HE_LAYOUT_MISMATCH',
      `cannot multiply matrix: input needs slots with period ${plan.period} and ≥ ${matrix.cols} values`,
    );
  }
  if (x.level === 0)
    throw new HeError('HE_DEPTH_EXHAUSTED', 'cannot multiply matrix: the input is at level 0');
  const n = plan.period;
  const n1 = plan.babySteps;
  const level = x.level;
  const q = Number(ctx.level(level).primes.at(-1));
  const layoutOut = { kind: 'slots', length: matrix.rows, period: n } as const;
  // Baby-step rotations of x, computed once.
  const baby = new Map<number, Ciphertext>();
  const groups = new Map<number, number[]>();
  for (const i of plan.diagonals) {
    const b = i % n1;
    const g = i - b;
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g)!.push(b);
  }
  let result: Ciphertext | undefined;
  let inner: Ciphertext | undefined;
  try {
    for (const bs of groups.values())
      for (const b of bs) if (!baby.has(b)) baby.set(b, b === 0 ? x.clone() : ev.rotate(x, b));
    for (const [g, bs] of groups) {
      inner = undefined;
      for (const b of bs) {
        // rot(d_(g+b), −g): entry j is d_(g+b)[(j − g) mod n] = M[j−g][(j+b) mod n].
        const diag = new Float64Array(n);
        for (let j = 0; j < n; j++) {
          const row = (((j - g) % n) + n) % n;
          diag[j] = entry(matrix, row, (row + g + b) % n);
        }
        using pd = encodeSlots(ctx, diag, { level, scale: q, period: n });
        const term = ev.multiplyPlain(baby.get(b)!, pd, layoutOut);
        if (inner === undefined) inner = term;
        else {
          const s = ev.add(inner, term);
          inner[Symbol.dispose]();
          term[Symbol.dispose]();
          inner = s;
        }
      }
      using rescaled = ev.rescale(inner!);
      inner![Symbol.dispose]();
      inner = undefined;
      const rotated = g === 0 ? rescaled.clone() : ev.rotate(rescaled, g);
      if (result === undefined) result = rotated;
      else {
        const s = ev.add(result, rotated);
        result[Symbol.dispose]();
        rotated[Symbol.dispose]();
        result = s;
      }
    }
  } catch (e) {
    // A failed step (e.g. a missing giant-step Galois key) must not leak the partial sums.
    inner?.[Symbol.dispose]();
    result?.[Symbol.dispose]();
    throw e;
  } finally {
    for (const c of baby.values()) c[Symbol.dispose]();
  }
  return result!;
}

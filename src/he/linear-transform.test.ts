import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { _ckksTolerance, _maxAbsError, _seededValues } from './_tolerance.ts';
import { HeContext } from './context.ts';
import { decrypt, encryptSymmetric } from './crypt.ts';
import { decodeSlots, encodeSlots } from './encoder.ts';
import { HeError } from './errors.ts';
import { Evaluator } from './evaluator.ts';
import { generateKeys } from './keys.ts';
import { type MatVecPlan, matVec, matVecPlain, type PlainMatrix, planMatVec } from './linear-transform.ts';

const PRESETS_UNDER_TEST = ['ckks-4096-d1', 'ckks-8192-d2', 'ckks-8192-d3'];
const contexts = new Map<string, HeContext>();

before(async () => {
  for (const name of PRESETS_UNDER_TEST) contexts.set(name, await HeContext.create(name));
});
after(() => {
  for (const ctx of contexts.values()) ctx[Symbol.dispose]();
});

function throwsCode(f: () => unknown, code: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof HeError, String(e));
    assert.equal(e.code, code, e.message);
    return true;
  });
}

function dense(rows: number, cols: number, seed: number): PlainMatrix {
  return { rows, cols, data: _seededValues(seed, rows * cols, 1) };
}

function banded(n: number, offsets: readonly number[], seed: number): PlainMatrix {
  const data = new Array(n * n).fill(0);
  const v = _seededValues(seed, n * n, 1);
  for (let r = 0; r < n; r++) for (const o of offsets) data[r * n + ((r + o + n) % n)] = v[r * n + r];
  return { rows: n, cols: n, data };
}

/**
 * Runs y = M·x encrypted with keys for exactly `steps` and compares with the float64 twin.
 * Tolerance: the baby-step rotations add key-switching noise (rotate class), and each output sums
 * `cols` products, so the bound scales with Σ|M[r][c]·x[c]| ≤ cols.
 */
function runMatVec(ctx: HeContext, m: PlainMatrix, plan: MatVecPlan, steps: readonly number[]): void {
  using keys = generateKeys(ctx, { galoisSteps: steps });
  const ev = new Evaluator(ctx, keys);
  const x = _seededValues(m.rows * 31 + m.cols, m.cols, 1);
  using pt = encodeSlots(ctx, x, { period: plan.period });
  using ct = encryptSymmetric(keys, pt);
  using y = matVec(ev, ct, m, plan);
  assert.deepEqual(y.layout, { kind: 'slots', length: m.rows, period: plan.period });
  assert.equal(y.level, ct.level - 1);
  // Diagonals are encoded at the scale of the prime the rescale removes: the scale is kept.
  assert.ok(Math.abs(y.scale / ct.scale - 1) < 1e-12);
  using out = decrypt(keys, y);
  const got = decodeSlots(out, plan.period);
  const twin = [...matVecPlain(m, x), ...new Array(plan.period - m.rows).fill(0)];
  const tol = _ckksTolerance(ctx.params.polyModulusDegree, ct.scale, 'rotate', m.cols);
  const err = _maxAbsError(got, twin);
  assert.ok(err <= tol, `${m.rows}×${m.cols}: error ${err} > ${tol}`);
}

describe('planMatVec (no keys needed)', () => {
  test('dense square: all diagonals, baby steps 1…n1−1 and giant steps n1, 2n1, …', () => {
    const plan = planMatVec(dense(16, 16, 1));
    assert.equal(plan.period, 16);
    assert.equal(plan.babySteps, 4);
    assert.equal(plan.diagonals.length, 16);
    assert.deepEqual(plan.galoisSteps, [1, 2, 3, 4, 8, 12]);
    assert.equal(plan.depth, 1);
    assert.ok(Object.isFrozen(plan));
  });

  test('sparse matrices skip zero diagonals and need fewer Galois steps', () => {
    const diag = planMatVec(banded(16, [0], 2));
    assert.deepEqual(diag.diagonals, [0]);
    assert.deepEqual(diag.galoisSteps, [], 'a diagonal matrix needs no rotation at all');
    const tri = planMatVec(banded(16, [-1, 0, 1], 3));
    assert.deepEqual(tri.diagonals, [0, 1, 15]);
    assert.deepEqual(tri.galoisSteps, [1, 3, 12]);
    assert.ok(tri.galoisSteps.length < planMatVec(dense(16, 16, 1)).galoisSteps.length);
  });

  test('rectangular matrices pad to a power-of-two period', () => {
    assert.equal(planMatVec(dense(3, 5, 4)).period, 8);
    assert.equal(planMatVec(dense(10, 3, 5)).period, 16);
    assert.equal(planMatVec(dense(3, 5, 4), { period: 32 }).period, 32);
  });

  test('invalid matrices and periods', () => {
    throwsCode(() => planMatVec({ rows: 2, cols: 2, data: [1, 2, 3] }), 'HE_INVALID_ARGUMENT');
    throwsCode(() => planMatVec({ rows: 0, cols: 2, data: [] }), 'HE_INVALID_ARGUMENT');
    throwsCode(() => planMatVec({ rows: 1, cols: 2, data: [1, Number.NaN] }), 'HE_INVALID_ARGUMENT');
    throwsCode(() => planMatVec(dense(3, 5, 4), { period: 4 }), 'HE_INVALID_ARGUMENT');
    throwsCode(() => planMatVec(dense(3, 5, 4), { period: 12 }), 'HE_INVALID_ARGUMENT');
  });
});

for (const name of PRESETS_UNDER_TEST) {
  describe(`matVec vs float64 twin on ${name}`, () => {
    const shapes: [string, PlainMatrix][] = [
      ['dense square 16×16', dense(16, 16, 10)],
      ['rectangular 3×5 (wide)', dense(3, 5, 11)],
      ['rectangular 10×3 (tall)', dense(10, 3, 12)],
      ['tridiagonal 16×16', banded(16, [-1, 0, 1], 13)],
      ['diagonal 8×8 (no rotations)', banded(8, [0], 14)],
      ['dense 64×64', dense(64, 64, 15)],
    ];
    for (const [what, m] of shapes) {
      test(`${what}, with keys for exactly plan.galoisSteps`, () => {
        const plan = planMatVec(m);
        runMatVec(contexts.get(name)!, m, plan, plan.galoisSteps);
      });
    }
    test('a wider period than needed (input replicated with period 32)', () => {
      const m = dense(5, 7, 16);
      const plan = planMatVec(m, { period: 32 });
      runMatVec(contexts.get(name)!, m, plan, plan.galoisSteps);
    });
  });
}

describe('plan.galoisSteps are exactly sufficient', () => {
  test('dropping any one planned step makes matVec fail with HE_MISSING_GALOIS_KEY', () => {
    const ctx = contexts.get('ckks-4096-d1')!;
    for (const m of [dense(16, 16, 20), banded(16, [-1, 0, 1], 21), dense(3, 5, 22)]) {
      const plan = planMatVec(m);
      for (const missing of plan.galoisSteps) {
        using keys = generateKeys(ctx, { galoisSteps: plan.galoisSteps.filter((s) => s !== missing) });
        const ev = new Evaluator(ctx, keys);
        using pt = encodeSlots(ctx, new Array(m.cols).fill(0.5), { period: plan.period });
        using ct = encryptSymmetric(keys, pt);
        throwsCode(() => matVec(ev, ct, m, plan), 'HE_MISSING_GALOIS_KEY');
      }
    }
  });

  test('layout and depth preconditions', () => {
    const ctx = contexts.get('ckks-8192-d2')!;
    const m = dense(4, 4, 23);
    const plan = planMatVec(m);
    using keys = generateKeys(ctx, { galoisSteps: plan.galoisSteps });
    const ev = new Evaluator(ctx, keys);
    using wrongPeriod = encodeSlots(ctx, [1, 2, 3, 4], { period: 8 });
    using c8 = encryptSymmetric(keys, wrongPeriod);
    throwsCode(() => matVec(ev, c8, m, plan), 'HE_LAYOUT_MISMATCH');
    using short = encodeSlots(ctx, [1, 2, 3], { period: 4 });
    using c3 = encryptSymmetric(keys, short);
    throwsCode(() => matVec(ev, c3, m, plan), 'HE_LAYOUT_MISMATCH');
    using low = encodeSlots(ctx, [1, 2, 3, 4], { period: 4, level: 0 });
    using c0 = encryptSymmetric(keys, low);
    throwsCode(() => matVec(ev, c0, m, plan), 'HE_DEPTH_EXHAUSTED');
  });
});

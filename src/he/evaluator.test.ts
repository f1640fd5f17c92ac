import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { _ckksTolerance, _maxAbsError, _seededValues } from './_tolerance.ts';
import { HeContext } from './context.ts';
import { decrypt, encryptSymmetric } from './crypt.ts';
import { decodeSlots, encodeCoeffs, encodeSlots } from './encoder.ts';
import { HeError } from './errors.ts';
import { Evaluator, innerSumSteps } from './evaluator.ts';
import type { Ciphertext } from './handles.ts';
import { generateKeys, type KeySet } from './keys.ts';

const PRESETS_UNDER_TEST = ['ckks-4096-d1', 'ckks-8192-d2', 'ckks-8192-d3'];
const LENGTH = 12;
const PERIOD = 16;
// Rotations tested: positive and negative, powers of two and not; 8, 4, 2, 1 also serve InnerSum(16).
const STEPS = [1, 2, 4, 8, 5, -1, -3];

interface Fixture {
  ctx: HeContext;
  keys: KeySet;
  ev: Evaluator;
}
const fixtures = new Map<string, Fixture>();

before(async () => {
  for (const name of PRESETS_UNDER_TEST) {
    const ctx = await HeContext.create(name);
    const keys = generateKeys(ctx, { relin: true, galoisSteps: STEPS });
    fixtures.set(name, { ctx, keys, ev: new Evaluator(ctx, keys) });
  }
});
after(() => {
  for (const { ctx, keys } of fixtures.values()) {
    keys[Symbol.dispose]();
    ctx[Symbol.dispose]();
  }
});

function throwsCode(f: () => unknown, code: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof HeError, `expected HeError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

function enc(
  f: Fixture,
  values: readonly number[],
  opts: { period?: number; level?: number } = {},
): Ciphertext {
  using pt = encodeSlots(f.ctx, values, { period: opts.period ?? PERIOD, level: opts.level });
  return encryptSymmetric(f.keys, pt);
}

/** Decrypts the whole period (padding included) so twins can check the padding too. */
function dec(f: Fixture, ct: Ciphertext, length = PERIOD): Float64Array {
  using pt = decrypt(f.keys, ct);
  return decodeSlots(pt, length);
}

const pad = (x: readonly number[]) => [...x, ...new Array(PERIOD - x.length).fill(0)];
const rotTwin = (x: readonly number[], r: number) => {
  const p = pad(x);
  return p.map((_, j) => p[(((j + r) % PERIOD) + PERIOD) % PERIOD]);
};

for (const name of PRESETS_UNDER_TEST) {
  describe(`evaluator vs float64 twin on ${name}`, () => {
    const a = _seededValues(11, LENGTH, 1);
    const b = _seededValues(12, LENGTH, 1);
    const tol = (kind: 'fresh' | 'multiply' | 'rotate', magnitude = 1) => {
      const { ctx } = fixtures.get(name)!;
      return _ckksTolerance(ctx.params.polyModulusDegree, ctx.defaultScale, kind, magnitude);
    };
    const check = (got: ArrayLike<number>, want: readonly number[], bound: number, what: string) => {
      const err = _maxAbsError(got, want);
      assert.ok(err <= bound, `${what}: error ${err} > ${bound}`);
    };

    test('add, sub, negate (magnitude ≤ 2: fresh bound)', () => {
      const f = fixtures.get(name)!;
      using ca = enc(f, a);
      using cb = enc(f, b);
      using s = f.ev.add(ca, cb);
      using d = f.ev.sub(ca, cb);
      using n = f.ev.negate(ca);
      check(dec(f, s), pad(a.map((v, i) => v + b[i])), tol('fresh', 2), 'add');
      check(dec(f, d), pad(a.map((v, i) => v - b[i])), tol('fresh', 2), 'sub');
      check(dec(f, n), pad(a.map((v) => -v)), tol('fresh'), 'negate');
      assert.equal(s.level, f.ctx.maxLevel);
      assert.equal(s.scale, f.ctx.defaultScale);
    });

    test('addPlain, subPlain', () => {
      const f = fixtures.get(name)!;
      using ca = enc(f, a);
      using pb = encodeSlots(f.ctx, b, { period: PERIOD });
      using s = f.ev.addPlain(ca, pb);
      using d = f.ev.subPlain(ca, pb);
      check(dec(f, s), pad(a.map((v, i) => v + b[i])), tol('fresh', 2), 'addPlain');
      check(dec(f, d), pad(a.map((v, i) => v - b[i])), tol('fresh', 2), 'subPlain');
    });

    test('multiplyPlain + rescale: one level, scale Δ·Δ/q', () => {
      const f = fixtures.get(name)!;
      using ca = enc(f, a);
      using pb = encodeSlots(f.ctx, b, { period: PERIOD });
      using m = f.ev.multiplyPlain(ca, pb);
      assert.equal(m.scale, ca.scale * pb.scale);
      using r = f.ev.rescale(m);
      const q = Number(f.ctx.level(ca.level).primes.at(-1));
      assert.equal(r.level, ca.level - 1);
      assert.ok(Math.abs(r.scale / ((ca.scale * pb.scale) / q) - 1) < 1e-12);
      check(dec(f, r), pad(a.map((v, i) => v * b[i])), tol('multiply'), 'multiplyPlain');
    });

    test('multiply + relinearize + rescale, and square', () => {
      const f = fixtures.get(name)!;
      using ca = enc(f, a);
      using cb = enc(f, b);
      using m = f.ev.multiply(ca, cb);
      assert.equal(m.size, 3);
      using rl = f.ev.relinearize(m);
      assert.equal(rl.size, 2);
      using r = f.ev.rescale(rl);
      check(dec(f, r), pad(a.map((v, i) => v * b[i])), tol('multiply'), 'multiply');
      using sq = f.ev.square(ca);
      using sqr = f.ev.rescale(f.ev.relinearize(sq));
      check(dec(f, sqr), pad(a.map((v) => v * v)), tol('multiply'), 'square');
    });

    test('modSwitchTo keeps value and scale, drops levels', () => {
      const f = fixtures.get(name)!;
      using ca = enc(f, a);
      using low = f.ev.modSwitchTo(ca, 0);
      assert.equal(low.level, 0);
      assert.equal(low.scale, ca.scale);
      check(dec(f, low), pad(a), tol('fresh'), 'modSwitchTo');
      using same = f.ev.modSwitchTo(ca, ca.level);
      assert.equal(same.level, ca.level);
      throwsCode(() => f.ev.modSwitchTo(low, 1), 'HE_LEVEL_MISMATCH');
    });

    test('rotate by positive and negative steps is cyclic within the period', () => {
      const f = fixtures.get(name)!;
      using ca = enc(f, a);
      for (const step of STEPS) {
        using r = f.ev.rotate(ca, step);
        check(dec(f, r), rotTwin(a, step), tol('rotate'), `rotate ${step}`);
      }
    });

    test('innerSum puts the block sum in every slot of the block', () => {
      const f = fixtures.get(name)!;
      using ca = enc(f, a);
      using s = f.ev.innerSum(ca, PERIOD);
      const total = a.reduce((x, y) => x + y, 0);
      check(dec(f, s), new Array(PERIOD).fill(total), tol('rotate', LENGTH), 'innerSum');
    });
  });
}

describe('evaluator preconditions fail with named codes', () => {
  const fx = () => fixtures.get('ckks-8192-d2')!;

  test('HE_LEVEL_MISMATCH: operands at different levels', () => {
    const f = fx();
    using hi = enc(f, [1, 2]);
    using lo = enc(f, [1, 2], { level: 1 });
    throwsCode(() => f.ev.add(hi, lo), 'HE_LEVEL_MISMATCH');
    throwsCode(() => f.ev.sub(hi, lo), 'HE_LEVEL_MISMATCH');
    throwsCode(() => f.ev.multiply(hi, lo), 'HE_LEVEL_MISMATCH');
    using plo = encodeSlots(f.ctx, [1, 2], { period: PERIOD, level: 1 });
    throwsCode(() => f.ev.addPlain(hi, plo), 'HE_LEVEL_MISMATCH');
    throwsCode(() => f.ev.multiplyPlain(hi, plo), 'HE_LEVEL_MISMATCH');
    const [x, y] = f.ev.matchLevels(hi, lo);
    using _x = x;
    using _y = y;
    assert.equal(x.level, 1);
    assert.equal(y.level, 1);
  });

  test('HE_SCALE_MISMATCH: scales beyond float rounding', () => {
    const f = fx();
    using ca = enc(f, [1, 2]);
    using p30 = encodeSlots(f.ctx, [1, 2], { period: PERIOD, scale: 2 ** 30 });
    using c30 = encryptSymmetric(f.keys, p30);
    throwsCode(() => f.ev.add(ca, c30), 'HE_SCALE_MISMATCH');
    throwsCode(() => f.ev.addPlain(ca, p30), 'HE_SCALE_MISMATCH');
    // A rescaled product has scale Δ²/q ≈ Δ·(1 + 3e-7): still a mismatch, the caller must align.
    using sq = f.ev.rescale(f.ev.relinearize(f.ev.square(ca)));
    using low = f.ev.modSwitchTo(ca, sq.level);
    throwsCode(() => f.ev.add(sq, low), 'HE_SCALE_MISMATCH');
  });

  test('HE_LAYOUT_MISMATCH: different periods, lengths, coefficient layouts', () => {
    const f = fx();
    using a16 = enc(f, [1, 2]);
    using a32 = enc(f, [1, 2], { period: 32 });
    using a3 = enc(f, [1, 2, 3]);
    throwsCode(() => f.ev.add(a16, a32), 'HE_LAYOUT_MISMATCH');
    throwsCode(() => f.ev.add(a16, a3), 'HE_LAYOUT_MISMATCH');
    throwsCode(() => f.ev.multiply(a16, a32), 'HE_LAYOUT_MISMATCH');
    using pc = encodeCoeffs(f.ctx, [1, 2]);
    using cc = encryptSymmetric(f.keys, pc);
    throwsCode(() => f.ev.rotate(cc, 1), 'HE_LAYOUT_MISMATCH');
    throwsCode(() => f.ev.add(a16, cc), 'HE_LAYOUT_MISMATCH');
  });

  test('HE_MISSING_GALOIS_KEY: step 3 without its key even though 1 and 2 exist', () => {
    const f = fx();
    using keys = generateKeys(f.ctx, { galoisSteps: [1, 2] });
    const ev = new Evaluator(f.ctx, keys);
    using ca = enc(f, [1, 2, 3]);
    using _r1 = ev.rotate(ca, 1);
    using _r2 = ev.rotate(ca, 2);
    throwsCode(() => ev.rotate(ca, 3), 'HE_MISSING_GALOIS_KEY');
    throwsCode(() => ev.rotate(ca, -1), 'HE_MISSING_GALOIS_KEY');
    throwsCode(() => ev.innerSum(ca, 8), 'HE_MISSING_GALOIS_KEY');
    throwsCode(() => new Evaluator(f.ctx).rotate(ca, 1), 'HE_MISSING_GALOIS_KEY');
    assert.deepEqual(innerSumSteps(8), [4, 2, 1]);
  });

  test('HE_MISSING_RELIN_KEYS: keys without relinearization keys, or no keys', () => {
    const f = fx();
    using keys = generateKeys(f.ctx, { galoisSteps: [1] });
    using ca = enc(f, [1, 2]);
    using prod = new Evaluator(f.ctx, keys).square(ca);
    throwsCode(() => new Evaluator(f.ctx, keys).relinearize(prod), 'HE_MISSING_RELIN_KEYS');
    throwsCode(() => new Evaluator(f.ctx).relinearize(prod), 'HE_MISSING_RELIN_KEYS');
  });

  test('HE_DEPTH_EXHAUSTED: rescale at level 0, multiply without modulus room', () => {
    const f = fx();
    using ca = enc(f, [1, 2], { level: 0 });
    throwsCode(() => f.ev.rescale(ca), 'HE_DEPTH_EXHAUSTED');
    // Level 0 of ckks-8192-d2 is one 60-bit prime: Δ² = 2^80 does not fit.
    throwsCode(() => f.ev.multiply(ca, ca), 'HE_DEPTH_EXHAUSTED');
    throwsCode(() => f.ev.square(ca), 'HE_DEPTH_EXHAUSTED');
    using p = encodeSlots(f.ctx, [1, 2], { period: PERIOD, level: 0 });
    throwsCode(() => f.ev.multiplyPlain(ca, p), 'HE_DEPTH_EXHAUSTED');
  });

  test('HE_PRESET_MISMATCH: operands or keys from another parameter set', () => {
    const f = fx();
    const g = fixtures.get('ckks-8192-d3')!;
    using ca = enc(f, [1, 2]);
    using cg = enc(g, [1, 2]);
    throwsCode(() => f.ev.add(ca, cg), 'HE_PRESET_MISMATCH');
    throwsCode(() => f.ev.negate(cg), 'HE_PRESET_MISMATCH');
    throwsCode(() => f.ev.rotate(cg, 1), 'HE_PRESET_MISMATCH');
    throwsCode(() => new Evaluator(f.ctx, g.keys), 'HE_PRESET_MISMATCH');
    throwsCode(() => decrypt(g.keys, ca), 'HE_PRESET_MISMATCH');
    using pg = encodeSlots(g.ctx, [1]);
    throwsCode(() => encryptSymmetric(f.keys, pg), 'HE_PRESET_MISMATCH');
  });

  test('HE_DISPOSED: ciphertexts, keys and contexts refuse use after dispose', async () => {
    const f = fx();
    const ca = enc(f, [1, 2]);
    using cb = enc(f, [1, 2]);
    ca[Symbol.dispose]();
    throwsCode(() => f.ev.add(ca, cb), 'HE_DISPOSED');
    throwsCode(() => f.ev.rotate(ca, 1), 'HE_DISPOSED');
    throwsCode(() => ca.level, 'HE_DISPOSED');
    const keys = generateKeys(f.ctx, { relin: true, galoisSteps: [1] });
    const ev = new Evaluator(f.ctx, keys);
    keys[Symbol.dispose]();
    keys[Symbol.dispose]();
    throwsCode(() => ev.rotate(cb, 1), 'HE_DISPOSED');
    throwsCode(() => decrypt(keys, cb), 'HE_DISPOSED');
    const ctx = await HeContext.create('ckks-4096-d1');
    ctx[Symbol.dispose]();
    assert.equal(ctx.disposed, true);
    throwsCode(() => encodeSlots(ctx, [1]), 'HE_DISPOSED');
    throwsCode(() => generateKeys(ctx), 'HE_DISPOSED');
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { _ckksTolerance, _maxAbsError, _seededValues } from './_tolerance.ts';
import { wrap } from './envelope.ts';
import { HeError } from './errors.ts';
import { innerSumSteps } from './evaluator.ts';
import { matVecPlain, type PlainMatrix, planMatVec } from './linear-transform.ts';
import { polynomialDepth, polynomialPlain } from './polynomial.ts';
import { getPreset } from './presets.ts';
import {
  denseMatVecSteps,
  EncryptedVector,
  MAX_SCALE_DRIFT,
  planVectorKeys,
  type VectorCapabilities,
  VectorContext,
} from './vector.ts';

const PRESETS_UNDER_TEST = ['ckks-4096-d1', 'ckks-8192-d2', 'ckks-8192-d3'];
const LENGTH = 10; // period 16: six padding slots per period exercise the zero-padding logic
const FULL: VectorCapabilities = { maxLength: LENGTH, multiply: true, sum: true, matmul: true };
const contexts = new Map<string, VectorContext>();

before(async () => {
  for (const name of PRESETS_UNDER_TEST) contexts.set(name, await VectorContext.create(name, FULL));
});
after(() => {
  for (const c of contexts.values()) c[Symbol.dispose]();
});

function throwsCode(f: () => unknown, code: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof HeError, `expected HeError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

const sumOf = (x: readonly number[]) => x.reduce((a, b) => a + b, 0);

describe('planVectorKeys: exactly the keys the capabilities need', () => {
  const p = getPreset('ckks-8192-d2');
  test('no capability, no Galois keys; period is the next power of two', () => {
    assert.deepEqual(planVectorKeys(p, { maxLength: 10 }), { period: 16, relin: false, galoisSteps: [] });
    assert.deepEqual(planVectorKeys(p, { maxLength: 16, multiply: true }), {
      period: 16,
      relin: true,
      galoisSteps: [],
    });
  });
  test('sum: the InnerSum steps of the period only (not every power of two below N/2)', () => {
    assert.deepEqual(planVectorKeys(p, { maxLength: 10, sum: true }).galoisSteps, [1, 2, 4, 8]);
    assert.deepEqual(planVectorKeys(p, { maxLength: 3, sum: true }).galoisSteps, innerSumSteps(4).reverse());
  });
  test('matmul: every BSGS step of a dense p×p plan (computed without building the matrix)', () => {
    for (const period of [1, 2, 4, 8, 16, 32, 64, 128]) {
      const dense: PlainMatrix = { rows: period, cols: period, data: new Array(period * period).fill(1) };
      assert.deepEqual(denseMatVecSteps(period), [...planMatVec(dense).galoisSteps], `period ${period}`);
    }
    assert.deepEqual(
      planVectorKeys(p, { maxLength: 16, matmul: true, sum: true }).galoisSteps,
      [1, 2, 3, 4, 8, 12],
    );
  });
  test('matrices: sparse matrices need fewer steps than matmul', () => {
    const diag: PlainMatrix = { rows: 4, cols: 4, data: [1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 3, 0, 0, 0, 0, 4] };
    const shift: PlainMatrix = { rows: 4, cols: 4, data: [0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0] };
    assert.deepEqual(planVectorKeys(p, { maxLength: 16, matrices: [diag] }).galoisSteps, []);
    assert.deepEqual(planVectorKeys(p, { maxLength: 16, matrices: [diag, shift] }).galoisSteps, [1, 12]);
  });
  test('argument errors', () => {
    throwsCode(() => planVectorKeys(p, { maxLength: 0 }), 'HE_INVALID_ARGUMENT');
    throwsCode(() => planVectorKeys(p, { maxLength: 4097 }), 'HE_INVALID_ARGUMENT');
    throwsCode(() => planVectorKeys(p, { maxLength: 2.5 }), 'HE_INVALID_ARGUMENT');
    throwsCode(
      () => planVectorKeys(p, { maxLength: 4, sum: 'yes' as unknown as boolean }),
      'HE_INVALID_ARGUMENT',
    );
    throwsCode(() => planVectorKeys(getPreset('bfv-4096'), { maxLength: 4 }), 'HE_INVALID_ARGUMENT');
    throwsCode(
      () =>
        planVectorKeys(p, { maxLength: 4, matrices: [{ rows: 8, cols: 4, data: new Array(32).fill(1) }] }),
      'HE_INVALID_ARGUMENT',
    );
  });
});

for (const name of PRESETS_UNDER_TEST) {
  describe(`EncryptedVector vs float64 twin on ${name}`, () => {
    const x = _seededValues(21, LENGTH, 1);
    const y = _seededValues(22, LENGTH, 1);
    const w = _seededValues(23, LENGTH, 1);
    const vctx = () => contexts.get(name)!;
    const tol = (kind: 'fresh' | 'multiply' | 'rotate', magnitude = 1) =>
      _ckksTolerance(vctx().params.polyModulusDegree, 2 ** vctx().params.scaleBits!, kind, magnitude);
    const check = (got: readonly number[], want: readonly number[], bound: number, what: string) => {
      assert.equal(got.length, want.length, `${what}: length`);
      const err = _maxAbsError(got, want);
      assert.ok(err <= bound, `${what}: error ${err} > ${bound}`);
    };

    test('encrypt → decrypt', () => {
      using v = vctx().encrypt(x);
      assert.equal(v.length, LENGTH);
      assert.equal(v.level, vctx().maxLevel);
      check(v.decrypt(), x, tol('fresh'), 'round trip');
    });

    test('add / sub with a scalar, a plain array, an encrypted vector: no level used', () => {
      using v = vctx().encrypt(x);
      using u = vctx().encrypt(y);
      const cases: [string, EncryptedVector, number[]][] = [
        ['add scalar', v.add(0.75), x.map((a) => a + 0.75)],
        ['add plain', v.add(y), x.map((a, i) => a + y[i])],
        ['add encrypted', v.add(u), x.map((a, i) => a + y[i])],
        ['sub scalar', v.sub(-2), x.map((a) => a + 2)],
        ['sub plain', v.sub(y), x.map((a, i) => a - y[i])],
        ['sub encrypted', v.sub(u), x.map((a, i) => a - y[i])],
        ['neg', v.neg(), x.map((a) => -a)],
      ];
      for (const [what, r, twin] of cases) {
        using _r = r;
        assert.equal(r.level, v.level, what);
        check(r.decrypt(), twin, tol('fresh', 3), what);
      }
    });

    test('mul by a scalar or plain array keeps the scale exactly (exact-scale trick), one level', () => {
      using v = vctx().encrypt(x);
      using s = v.mul(0.37);
      using p = v.mul(w);
      for (const r of [s, p]) {
        assert.equal(r.level, v.level - 1);
        // Encoded at the scale of the prime the rescale removes: (Δ·q)/q = Δ up to float rounding.
        assert.ok(Math.abs(r.scale / v.scale - 1) < 1e-12);
      }
      check(
        s.decrypt(),
        x.map((a) => a * 0.37),
        tol('multiply'),
        'mul scalar',
      );
      check(
        p.decrypt(),
        x.map((a, i) => a * w[i]),
        tol('multiply'),
        'mul plain',
      );
    });

    test('mul by an integer scalar is exact and consumes no level', () => {
      using v = vctx().encrypt(x);
      using r = v.mul(-3);
      assert.equal(r.level, v.level);
      assert.equal(r.scale, v.scale);
      // Noise is multiplied by |v| = 3 along with the values.
      check(
        r.decrypt(),
        x.map((a) => -3 * a),
        3 * tol('fresh'),
        'mul integer',
      );
    });

    test('mul by an encrypted vector (relinearized, rescaled), and x·x', () => {
      using v = vctx().encrypt(x);
      using u = vctx().encrypt(y);
      using r = v.mul(u);
      assert.equal(r.level, v.level - 1);
      check(
        r.decrypt(),
        x.map((a, i) => a * y[i]),
        tol('multiply'),
        'mul encrypted',
      );
      using sq = v.mul(v);
      check(
        sq.decrypt(),
        x.map((a) => a * a),
        tol('multiply'),
        'square',
      );
    });

    test('different levels and drifted scales: x·y + x carries no drift error', () => {
      using v = vctx().encrypt(x);
      using u = vctx().encrypt(y);
      using prod = v.mul(u);
      // prod has scale Δ²/q ≠ Δ: the drift the exact-scale step down has to absorb.
      const r = Math.abs(v.scale / prod.scale - 1);
      assert.ok(r > 0 && r <= MAX_SCALE_DRIFT, `drift ${r}`);
      using z = prod.add(v);
      using z2 = v.sub(prod); // either operand order
      for (const [what, got, twin] of [
        ['x·y + x', z, x.map((a, i) => a * y[i] + a)],
        ['x − x·y', z2, x.map((a, i) => a - a * y[i])],
      ] as const) {
        assert.equal(got.level, prod.level, what);
        assert.ok(Math.abs(got.scale / prod.scale - 1) < 1e-12, `${what}: lands on the product's scale`);
        // Only CKKS noise (one product, one rescale of x by the constant 1). Re-labelling x instead
        // would have added r·max|x| (3e-5 on ckks-4096-d1, 1e-7 at N=8192); measured errors are
        // 10–100× below that, so a quarter of it is asserted as well.
        check(
          got.decrypt(),
          twin,
          Math.min(tol('multiply', 2), (r * Math.max(...x.map(Math.abs))) / 4),
          what,
        );
      }
    });

    test('same level, different histories: re-labelled within the documented bound', () => {
      using v = vctx().encrypt(x);
      using u = vctx().encrypt(y);
      using prod = v.mul(u); // scale Δ²/q
      using half = v.mul(0.5); // exact-scale product: scale Δ, same level
      assert.equal(prod.level, half.level);
      const r = Math.abs(half.scale / prod.scale - 1);
      assert.ok(r > 0 && r <= MAX_SCALE_DRIFT, `drift ${r}`);
      using z = prod.add(half);
      // The second operand's values are multiplied by (1 + r): error ≤ CKKS noise + r·max|x/2|.
      check(
        z.decrypt(),
        x.map((a, i) => a * y[i] + a / 2),
        tol('multiply', 2) + r / 2,
        'x·y + x/2',
      );
    });

    test('sum, dot with plain and encrypted vectors', () => {
      using v = vctx().encrypt(x);
      using u = vctx().encrypt(y);
      using s = v.sum();
      assert.equal(s.length, 1);
      assert.equal(s.level, v.level, 'sum uses rotations only');
      assert.equal(s.cleanPadding, false);
      // Rotations add key-switching noise to each of the log2(16) partial sums.
      check(s.decrypt(), [sumOf(x)], tol('rotate', LENGTH), 'sum');
      using dp = v.dot(w);
      check(dp.decrypt(), [sumOf(x.map((a, i) => a * w[i]))], tol('rotate', LENGTH), 'dot plain');
      using de = v.dot(u);
      check(de.decrypt(), [sumOf(x.map((a, i) => a * y[i]))], tol('rotate', LENGTH), 'dot encrypted');
      if (v.level >= 2) {
        // A sum's padding holds copies of the total: a second sum must mask first (one level).
        using ss = s.sum();
        assert.equal(ss.level, s.level - 1);
        check(ss.decrypt(), [sumOf(x)], tol('rotate', LENGTH), 'sum of a sum');
        using sm = s.mul(2); // integer scaling keeps the padding as it is
        assert.equal(sm.cleanPadding, false);
      }
    });

    test('matmul: square, wide and tall matrices', () => {
      using v = vctx().encrypt(x);
      for (const [rows, cols] of [
        [LENGTH, LENGTH],
        [3, LENGTH],
        [16, LENGTH],
      ]) {
        const m: PlainMatrix = { rows, cols, data: _seededValues(rows * cols, rows * cols, 1) };
        using r = v.matmul(m);
        assert.equal(r.length, rows);
        assert.equal(r.level, v.level - 1);
        check(r.decrypt(), [...matVecPlain(m, x)], tol('rotate', cols), `${rows}×${cols}`);
      }
    });

    test('polyval: the deepest polynomial this preset allows, depth accounted', () => {
      using v = vctx().encrypt(x);
      const coeffs = [
        [0.5, -1.25], // degree 1: depth 1
        [0.1, -0.4, 0.7], // degree 2: depth 2
        [0.5, 0.197, 0, -0.004], // degree 3: depth 3 (sigmoid approximation)
      ];
      for (const c of coeffs) {
        const depth = polynomialDepth(c.length - 1);
        if (depth > v.level) {
          throwsCode(() => v.polyval(c), 'HE_DEPTH_EXHAUSTED');
          continue;
        }
        using r = v.polyval(c);
        assert.equal(r.level, v.level - depth);
        const mass = sumOf(c.map(Math.abs));
        check(
          r.decrypt(),
          x.map((a) => polynomialPlain(c, a)),
          depth * tol('multiply', mass),
          `degree ${c.length - 1}`,
        );
      }
    });

    test('results that are exactly zero (x − x, x·0, x·[0…]) are fresh encryptions of zeros', () => {
      using v = vctx().encrypt(x);
      const zeros = new Array(LENGTH).fill(0);
      using a = v.sub(v);
      using b = v.mul(0);
      using c = v.mul(zeros);
      for (const [what, r] of [
        ['x − x', a],
        ['x·0', b],
        ['x·[0…]', c],
      ] as const)
        check(r.decrypt(), zeros, tol('fresh'), what);
      assert.equal(c.level, v.level - 1);
    });

    test('depth runs out with HE_DEPTH_EXHAUSTED, not a SEAL error', () => {
      let v = vctx().encrypt(x);
      try {
        for (let i = 0; i < vctx().maxLevel; i++) {
          const next = v.mul(0.5);
          v[Symbol.dispose]();
          v = next;
        }
        assert.equal(v.level, 0);
        throwsCode(() => v.mul(0.5), 'HE_DEPTH_EXHAUSTED');
        throwsCode(() => v.mul(v), 'HE_DEPTH_EXHAUSTED');
        throwsCode(() => v.mul(w), 'HE_DEPTH_EXHAUSTED');
        throwsCode(() => v.polyval([0, 1]), 'HE_DEPTH_EXHAUSTED');
        // Additions and integer scaling still work at level 0.
        using plus = v.add(1);
        using ok = plus.mul(2);
        check(
          ok.decrypt(),
          x.map((a) => (a / 2 ** vctx().maxLevel + 1) * 2),
          tol('multiply', 4),
          'level 0',
        );
      } finally {
        v[Symbol.dispose]();
      }
    });
  });
}

describe('EncryptedVector preconditions', () => {
  const vctx = () => contexts.get('ckks-8192-d2')!;

  test('capabilities not declared: missing keys are named before any work', async () => {
    using bare = await VectorContext.create('ckks-8192-d2', { maxLength: 4 });
    assert.deepEqual(bare.plan.galoisSteps, []);
    using v = bare.encrypt([1, 2, 3, 4]);
    throwsCode(() => v.sum(), 'HE_MISSING_GALOIS_KEY');
    throwsCode(() => v.dot([1, 1, 1, 1]), 'HE_MISSING_GALOIS_KEY');
    throwsCode(() => v.mul(v), 'HE_MISSING_RELIN_KEYS');
    throwsCode(() => v.polyval([0, 0, 1]), 'HE_MISSING_RELIN_KEYS');
    throwsCode(() => v.matmul({ rows: 2, cols: 4, data: [1, 1, 1, 1, 0, 1, 0, 1] }), 'HE_MISSING_GALOIS_KEY');
    // A diagonal matrix needs no rotation: it works even without keys.
    using d = v.matmul({ rows: 4, cols: 4, data: [2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2] });
    assert.ok(_maxAbsError(d.decrypt(), [2, 4, 6, 8]) < 1e-6);
  });

  test('sum is checked against the keys: matmul keys include the InnerSum steps', async () => {
    using c = await VectorContext.create('ckks-4096-d1', { maxLength: 16, matmul: true });
    assert.equal(c.capabilities.sum, false);
    const x = _seededValues(31, 16, 1);
    using v = c.encrypt(x);
    using s = v.sum();
    assert.ok(Math.abs(s.decrypt()[0] - sumOf(x)) <= _ckksTolerance(4096, 2 ** 32, 'rotate', 16));
  });

  test('declared matrices: keys for exactly their steps', async () => {
    const band: PlainMatrix = {
      rows: 8,
      cols: 8,
      data: Array.from({ length: 64 }, (_, k) => (Math.abs((k % 8) - Math.floor(k / 8)) <= 1 ? 1 : 0)),
    };
    using c = await VectorContext.create('ckks-8192-d2', { maxLength: 8, matrices: [band] });
    assert.deepEqual(c.plan.galoisSteps, planMatVec(band).galoisSteps);
    const x = [1, 2, 3, 4, 5, 6, 7, 8];
    using v = c.encrypt(x);
    using r = v.matmul(band);
    assert.ok(_maxAbsError(r.decrypt(), [...matVecPlain(band, x)]) < 1e-5);
    const dense: PlainMatrix = { rows: 8, cols: 8, data: new Array(64).fill(1) };
    throwsCode(() => v.matmul(dense), 'HE_MISSING_GALOIS_KEY');
  });

  test('argument, layout and context errors', async () => {
    const c = vctx();
    throwsCode(() => c.encrypt([]), 'HE_INVALID_ARGUMENT');
    throwsCode(() => c.encrypt(new Array(LENGTH + 1).fill(1)), 'HE_INVALID_ARGUMENT');
    throwsCode(() => c.encrypt([1, Number.NaN]), 'HE_INVALID_ARGUMENT');
    using v = c.encrypt([1, 2, 3]);
    using u = c.encrypt([1, 2]);
    throwsCode(() => v.add(u), 'HE_LAYOUT_MISMATCH');
    throwsCode(() => v.mul([1, 2]), 'HE_LAYOUT_MISMATCH');
    throwsCode(() => v.add(Number.POSITIVE_INFINITY), 'HE_INVALID_ARGUMENT');
    throwsCode(() => v.mul([1, 2, Number.NaN]), 'HE_INVALID_ARGUMENT');
    throwsCode(() => v.matmul({ rows: 2, cols: 2, data: [1, 0, 0, 1] }), 'HE_LAYOUT_MISMATCH');
    throwsCode(() => v.polyval([1]), 'HE_INVALID_ARGUMENT');
    // Same preset, other keys: combining would decrypt to garbage, so it is refused.
    using other = await VectorContext.create('ckks-8192-d2', { maxLength: LENGTH });
    using o = other.encrypt([1, 2, 3]);
    throwsCode(() => v.add(o), 'HE_PRESET_MISMATCH');
    using d3 = contexts.get('ckks-8192-d3')!.encrypt([1, 2, 3]);
    throwsCode(() => v.mul(d3), 'HE_PRESET_MISMATCH');
    await assert.rejects(VectorContext.create('bfv-4096', { maxLength: 4 }), (e: unknown) => {
      return e instanceof HeError && e.code === 'HE_INVALID_ARGUMENT';
    });
    await assert.rejects(VectorContext.create('ckks-1', { maxLength: 4 }), (e: unknown) => {
      return e instanceof HeError && e.code === 'HE_UNKNOWN_PRESET';
    });
  });

  test('tidy disposes intermediates, keeps what it returns, nests, and cleans up on throw', () => {
    const c = vctx();
    using x = c.encrypt([0.5, 0.25]);
    let inner: EncryptedVector | undefined;
    using r = c.tidy(() => {
      inner = x.mul([2, 4]);
      return inner.add(1).neg();
    });
    assert.equal(inner!.disposed, true);
    assert.equal(x.disposed, false, 'vectors from outside the scope are untouched');
    assert.ok(_maxAbsError(r.decrypt(), [-2, -2]) < 1e-6);

    let deepInner: EncryptedVector | undefined;
    let innerResult: EncryptedVector | undefined;
    const [a, b] = c.tidy(() => {
      innerResult = c.tidy(() => {
        deepInner = x.add(1);
        return deepInner.mul(2);
      });
      assert.equal(deepInner!.disposed, true);
      assert.equal(innerResult.disposed, false);
      return [innerResult.add(0), x.sub(x)];
    });
    using _a = a;
    using _b = b;
    assert.equal(innerResult!.disposed, true, 'the inner result belonged to the outer scope');
    assert.ok(_maxAbsError(a.decrypt(), [3, 2.5]) < 1e-6);
    assert.ok(_maxAbsError(b.decrypt(), [0, 0]) < 1e-6);

    let before: EncryptedVector | undefined;
    assert.throws(() =>
      c.tidy(() => {
        before = x.add(1);
        return x.add([1, 2, 3]); // length mismatch
      }),
    );
    assert.equal(before!.disposed, true);
  });

  test('use after dispose throws HE_DISPOSED (vectors and contexts)', async () => {
    const v = vctx().encrypt([1, 2]);
    using u = vctx().encrypt([1, 2]);
    v[Symbol.dispose]();
    v[Symbol.dispose]();
    assert.equal(v.disposed, true);
    throwsCode(() => v.decrypt(), 'HE_DISPOSED');
    throwsCode(() => u.add(v), 'HE_DISPOSED');
    throwsCode(() => v.serialize(), 'HE_DISPOSED');
    const c = await VectorContext.create('ckks-4096-d1', { maxLength: 2 });
    using w = c.encrypt([1, 2]);
    c[Symbol.dispose]();
    assert.equal(c.disposed, true);
    throwsCode(() => c.encrypt([1]), 'HE_DISPOSED');
    throwsCode(() => c.exportPublic(), 'HE_DISPOSED');
    throwsCode(() => w.add(1), 'HE_DISPOSED');
    throwsCode(() => w.decrypt(), 'HE_DISPOSED');
  });
});

describe('serialization: public context and vectors', () => {
  const name = 'ckks-4096-d1';
  const client = () => contexts.get(name)!;
  let publicBytes: Uint8Array;
  before(() => {
    publicBytes = client().exportPublic();
  });

  /** Splits public context bytes into prefix, description envelope and key envelope. */
  const parts = (b: Uint8Array) => {
    const len = 48 + Number(new DataView(b.buffer, b.byteOffset + 8 + 40, 8).getBigUint64(0, true));
    return { prefix: b.subarray(0, 8), description: b.subarray(8, 8 + len), keys: b.subarray(8 + len) };
  };
  const withDescription = (b: Uint8Array, edit: (d: Record<string, unknown>) => void) => {
    const { prefix, description, keys } = parts(b);
    const d = JSON.parse(new TextDecoder().decode(description.subarray(48)));
    edit(d);
    const env = wrap('parameters', client().params, new TextEncoder().encode(JSON.stringify(d)));
    return Uint8Array.from([...prefix, ...env, ...keys]);
  };
  const rejects = async (bytes: Uint8Array, code: string, opts = {}) =>
    assert.rejects(VectorContext.loadPublic(bytes, opts), (e: unknown) => {
      assert.ok(e instanceof HeError, String(e));
      assert.equal(e.code, code, e.message);
      return true;
    });

  test('round trip in one process: the server evaluates, only the client decrypts', async () => {
    const x = [0.3, -0.7, 0.2, 0.9];
    using server = await VectorContext.loadPublic(publicBytes);
    assert.equal(server.hasSecretKey, false);
    assert.equal(server.params.fingerprint, client().params.fingerprint);
    assert.deepEqual(server.plan, client().plan);
    assert.deepEqual(server.capabilities, client().capabilities);
    throwsCode(() => server.exportPublic(), 'HE_MISSING_SECRET_KEY');
    using input = client().encrypt(x);
    using onServer = EncryptedVector.deserialize(server, input.serialize());
    throwsCode(() => onServer.decrypt(), 'HE_MISSING_SECRET_KEY');
    using r = server.tidy(() => onServer.mul([1, 2, 3, 4]).sum());
    const back = EncryptedVector.deserialize(client(), r.serialize());
    using _b = back;
    assert.equal(back.length, 1);
    assert.equal(back.cleanPadding, false, 'the flag travels');
    assert.equal(back.level, r.level);
    const tol = _ckksTolerance(4096, 2 ** 32, 'rotate', 10);
    assert.ok(Math.abs(back.decrypt()[0] - (0.3 - 1.4 + 0.6 + 3.6)) <= tol);
  });

  test('a vector serialized and loaded on its own context is unchanged', () => {
    using v = client().encrypt([1, -2, 3]);
    using w = EncryptedVector.deserialize(client(), v.serialize());
    assert.equal(w.length, 3);
    assert.equal(w.cleanPadding, true);
    assert.deepEqual(w.decrypt(), v.decrypt());
  });

  test('encryptSerialized: seeded upload about half the size, loads on the server', async () => {
    const x = [0.5, -0.5, 0.25];
    const seeded = client().encryptSerialized(x);
    using full = client().encrypt(x);
    const plain = full.serialize();
    assert.ok(seeded.length < 0.55 * plain.length, `${seeded.length} vs ${plain.length}`);
    using server = await VectorContext.loadPublic(publicBytes);
    using v = EncryptedVector.deserialize(server, seeded);
    using r = v.mul(2);
    using back = EncryptedVector.deserialize(client(), r.serialize());
    assert.ok(_maxAbsError(back.decrypt(), [1, -1, 0.5]) <= _ckksTolerance(4096, 2 ** 32, 'fresh', 2));
    throwsCode(() => server.encryptSerialized(x), 'HE_MISSING_SECRET_KEY');
    throwsCode(() => client().encryptSerialized(new Array(LENGTH + 1).fill(0)), 'HE_INVALID_ARGUMENT');
  });

  test('server-side capabilities: keys must match them exactly', async () => {
    await rejects(publicBytes, 'HE_UNEXPECTED_KEY', { capabilities: { maxLength: LENGTH, sum: true } });
    await rejects(publicBytes, 'HE_UNEXPECTED_KEY', {
      capabilities: { maxLength: 32, multiply: true, sum: true, matmul: true },
    });
    using sumOnly = await VectorContext.create(name, { maxLength: LENGTH, sum: true });
    await rejects(sumOnly.exportPublic(), 'HE_MISSING_RELIN_KEYS', { capabilities: FULL });
    await rejects(sumOnly.exportPublic(), 'HE_MISSING_GALOIS_KEY', {
      capabilities: { maxLength: LENGTH, sum: true, matmul: true },
    });
    using ok = await VectorContext.loadPublic(publicBytes, { capabilities: FULL });
    assert.equal(ok.period, 16);
  });

  test('hostile public contexts are refused with codes, and the client still works', async () => {
    const flip = (at: number, v: number) => {
      const b = Uint8Array.from(publicBytes);
      b[at] = v;
      return b;
    };
    await rejects(publicBytes.subarray(0, 4), 'HE_MALFORMED');
    await rejects(publicBytes.subarray(0, 30), 'HE_MALFORMED');
    await rejects(publicBytes.subarray(0, publicBytes.length - 1), 'HE_MALFORMED');
    await rejects(flip(0, 0x41), 'HE_BAD_MAGIC');
    await rejects(flip(4, 2), 'HE_BAD_VERSION');
    await rejects(flip(6, 1), 'HE_MALFORMED');
    await rejects(flip(8 + 20, publicBytes[8 + 20] ^ 1), 'HE_WRONG_PRESET');
    await rejects(publicBytes, 'HE_WRONG_PRESET', {
      expectedFingerprint: getPreset('ckks-8192-d2').fingerprint,
    });
    await rejects(publicBytes, 'HE_TOO_LARGE', { maxBytes: 1000 });
    // The description must agree with its fingerprint and with itself.
    await rejects(
      withDescription(publicBytes, (d) => {
        (d.parameters as { scaleBits: number }).scaleBits = 30;
      }),
      'HE_WRONG_PRESET',
    );
    await rejects(
      withDescription(publicBytes, (d) => {
        d.galoisSteps = [1, 2, 3, 4, 5, 8, 12];
      }),
      'HE_MALFORMED',
    );
    await rejects(
      withDescription(publicBytes, (d) => {
        d.galoisSteps = [1, 2];
      }),
      'HE_MALFORMED',
    );
    await rejects(
      withDescription(publicBytes, (d) => {
        d.period = 32;
      }),
      'HE_MALFORMED',
    );
    await rejects(
      withDescription(publicBytes, (d) => {
        d.relin = 'yes';
      }),
      'HE_MALFORMED',
    );
    await rejects(
      withDescription(publicBytes, (d) => {
        d.maxLength = 1e6;
      }),
      'HE_INVALID_ARGUMENT',
    );
    const { prefix, keys } = parts(publicBytes);
    const notJson = wrap('parameters', client().params, new TextEncoder().encode('{"parameters":'));
    await rejects(Uint8Array.from([...prefix, ...notJson, ...keys]), 'HE_MALFORMED');
    using v = client().encrypt([1, 2]);
    assert.ok(_maxAbsError(v.decrypt(), [1, 2]) < 1e-4);
  });

  test('hostile vectors are refused with codes', () => {
    using v = client().encrypt([1, 2, 3]);
    const good = v.serialize();
    const edit = (f: (b: Uint8Array, dv: DataView) => void) => {
      const b = Uint8Array.from(good);
      f(b, new DataView(b.buffer));
      return b;
    };
    const refused: [string, Uint8Array, string][] = [
      ['empty', new Uint8Array(0), 'HE_MALFORMED'],
      ['truncated header', good.subarray(0, 10), 'HE_MALFORMED'],
      ['truncated body', good.subarray(0, good.length - 8), 'HE_MALFORMED'],
      // A fresh ciphertext is already the largest legal size, so one more byte is over the limit.
      ['trailing byte', Uint8Array.from([...good, 0]), 'HE_TOO_LARGE'],
      ['bad magic', edit((b) => (b[0] = 0)), 'HE_BAD_MAGIC'],
      ['bad version', edit((b) => (b[4] = 9)), 'HE_BAD_VERSION'],
      ['unknown flag', edit((b) => (b[5] = 2)), 'HE_MALFORMED'],
      ['length 0', edit((_, d) => d.setUint32(8, 0, true)), 'HE_MALFORMED'],
      ['length > period', edit((_, d) => d.setUint32(8, 17, true)), 'HE_MALFORMED'],
      ['other period', edit((_, d) => d.setUint32(12, 32, true)), 'HE_MALFORMED'],
      ['other envelope kind', edit((b) => (b[16 + 5] = 2)), 'HE_WRONG_KIND'],
      // SEAL ciphertext scale field: 16 (vector header) + 48 (envelope) + 73.
      ['NaN scale', edit((_, d) => d.setFloat64(16 + 48 + 73, Number.NaN, true)), 'HE_BAD_SCALE'],
      ['scale 2^20 (not ≈ Δ)', edit((_, d) => d.setFloat64(16 + 48 + 73, 2 ** 20, true)), 'HE_BAD_SCALE'],
      ['size 3', edit((_, d) => d.setBigUint64(16 + 48 + 49, 3n, true)), 'HE_BAD_SIZE'],
    ];
    for (const [what, bytes, code] of refused) {
      assert.throws(
        () => EncryptedVector.deserialize(client(), bytes),
        (e: unknown) => e instanceof HeError && e.code === code,
        what,
      );
    }
    // Right shape, other parameter set: refused by the envelope's fingerprint.
    using d3 = contexts.get('ckks-8192-d3')!.encrypt([1, 2, 3]);
    throwsCode(() => EncryptedVector.deserialize(client(), d3.serialize()), 'HE_WRONG_PRESET');
    using again = EncryptedVector.deserialize(client(), good);
    assert.ok(_maxAbsError(again.decrypt(), [1, 2, 3]) < 1e-4);
  });
});

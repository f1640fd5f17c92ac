// Differential test of the vector API: seeded random programs (chains of add/sub/mul/neg/polyval/
// matmul/sum over scalars, plain arrays and encrypted vectors) run encrypted and in float64, with
// an error bound propagated alongside the twin, op by op:
//
//   a ± b          e_a + e_b (+ r·max|b| when same-level scales are re-labelled, r measured)
//   a ± plain      e_a + fresh
//   c·a            |c|·e_a + multiply          (integer c: |c|·e_a, nothing added)
//   a·b            max|a|·e_b + max|b|·e_a + e_a·e_b + multiply
//   p(a)           max|p'|·e_a + depth·multiply·Σ|c_k|
//   M·a            max row-sum|M|·e_a + rotate·cols
//   sum(a)         length·e_a + rotate·length
//
// with fresh / multiply / rotate the per-operation bounds of _tolerance.ts at the value's magnitude.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { _ckksTolerance, _seededRandom, _seededValues } from './_tolerance.ts';
import type { PlainMatrix } from './linear-transform.ts';
import { polynomialDepth, polynomialPlain } from './polynomial.ts';
import { type EncryptedVector, VectorContext } from './vector.ts';

const LENGTH = 6;
const PROGRAMS = 25;
const MAX_OPS = 6;
/** Keep |values| small enough for every preset's integer bits (ckks-4096-d1 has 6 above 2^32). */
const MAX_MAGNITUDE = 8;

interface Value {
  ct: EncryptedVector;
  twin: number[];
  err: number; // bound on max |decrypted − twin|
}

const maxAbs = (v: readonly number[]) => Math.max(...v.map(Math.abs));

for (const name of ['ckks-4096-d1', 'ckks-8192-d2', 'ckks-8192-d3']) {
  describe(`random vector programs on ${name}`, () => {
    let vctx: VectorContext;
    before(async () => {
      vctx = await VectorContext.create(name, { maxLength: LENGTH, multiply: true, sum: true, matmul: true });
    });
    after(() => vctx[Symbol.dispose]());

    test(`${PROGRAMS} seeded programs of ≤ ${MAX_OPS} operations stay within the propagated bound`, () => {
      const n = vctx.params.polyModulusDegree;
      const delta = 2 ** vctx.params.scaleBits!;
      const tol = (kind: 'fresh' | 'multiply' | 'rotate', mag: number) => _ckksTolerance(n, delta, kind, mag);
      let checked = 0;
      for (let p = 0; p < PROGRAMS; p++) {
        const rand = _seededRandom(1000 + p);
        const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
        const log: string[] = [];
        vctx.tidy(() => {
          const fresh = (seed: number): Value => {
            const twin = _seededValues(seed, LENGTH, 1);
            return { ct: vctx.encrypt(twin), twin, err: tol('fresh', 1) };
          };
          const pool: Value[] = [fresh(p * 10 + 1), fresh(p * 10 + 2)];
          let cur = pool[0];
          const ops = 1 + Math.floor(rand() * MAX_OPS);
          for (let k = 0; k < ops; k++) {
            const other = pick(pool);
            const plain = _seededValues(p * 100 + k, LENGTH, 1);
            const level = Math.min(cur.ct.level, other.ct.level);
            const mag = maxAbs(cur.twin);
            const choices: string[] = ['add', 'sub', 'addPlain', 'addScalar', 'neg', 'mulInt'];
            if (cur.ct.level >= 1) choices.push('mulScalar', 'mulPlain', 'matmul', 'poly1');
            if (level >= 1) choices.push('mulVec');
            if (cur.ct.level >= 2) choices.push('poly2');
            if (cur.ct.level >= 3) choices.push('poly3');
            const op = pick(choices);
            let next: Value;
            switch (op) {
              case 'add':
              case 'sub': {
                const sign = op === 'add' ? 1 : -1;
                const sameLevel = cur.ct.level === other.ct.level;
                const r = sameLevel ? Math.abs(cur.ct.scale / other.ct.scale - 1) : 0;
                const ct = sign === 1 ? cur.ct.add(other.ct) : cur.ct.sub(other.ct);
                const twin = cur.twin.map((a, i) => a + sign * other.twin[i]);
                next = { ct, twin, err: cur.err + other.err + r * maxAbs(other.twin) + tol('fresh', 1) };
                break;
              }
              case 'addPlain':
                next = {
                  ct: cur.ct.add(plain),
                  twin: cur.twin.map((a, i) => a + plain[i]),
                  err: cur.err + tol('fresh', mag + 1),
                };
                break;
              case 'addScalar': {
                const c = rand() * 2 - 1;
                next = {
                  ct: cur.ct.sub(c),
                  twin: cur.twin.map((a) => a - c),
                  err: cur.err + tol('fresh', mag + 1),
                };
                break;
              }
              case 'neg':
                next = { ct: cur.ct.neg(), twin: cur.twin.map((a) => -a), err: cur.err };
                break;
              case 'mulInt': {
                const c = pick([-2, 2, 3]);
                next = { ct: cur.ct.mul(c), twin: cur.twin.map((a) => c * a), err: Math.abs(c) * cur.err };
                break;
              }
              case 'mulScalar': {
                const c = rand() * 2 - 1;
                next = {
                  ct: cur.ct.mul(c),
                  twin: cur.twin.map((a) => c * a),
                  err: Math.abs(c) * cur.err + tol('multiply', mag),
                };
                break;
              }
              case 'mulPlain':
                next = {
                  ct: cur.ct.mul(plain),
                  twin: cur.twin.map((a, i) => a * plain[i]),
                  err: maxAbs(plain) * cur.err + tol('multiply', mag),
                };
                break;
              case 'mulVec': {
                const ma = maxAbs(cur.twin);
                const mb = maxAbs(other.twin);
                next = {
                  ct: cur.ct.mul(other.ct),
                  twin: cur.twin.map((a, i) => a * other.twin[i]),
                  err: ma * other.err + mb * cur.err + cur.err * other.err + tol('multiply', ma * mb),
                };
                break;
              }
              case 'matmul': {
                const m: PlainMatrix = {
                  rows: LENGTH,
                  cols: LENGTH,
                  data: _seededValues(p * 7 + k, LENGTH * LENGTH, 0.5),
                };
                let rowSum = 0;
                for (let r = 0; r < LENGTH; r++) {
                  let s = 0;
                  for (let c = 0; c < LENGTH; c++) s += Math.abs(m.data[r * LENGTH + c]);
                  rowSum = Math.max(rowSum, s);
                }
                const twin = cur.twin.map((_, r) =>
                  cur.twin.reduce((s, a, c) => s + m.data[r * LENGTH + c] * a, 0),
                );
                next = { ct: cur.ct.matmul(m), twin, err: rowSum * cur.err + tol('rotate', LENGTH * mag) };
                break;
              }
              default: {
                const degree = Number(op.slice(4));
                const c = _seededValues(p * 13 + k, degree + 1, 0.5);
                const deriv = (x: number) =>
                  c.reduce((s, ck, i) => s + (i > 0 ? i * Math.abs(ck) * x ** (i - 1) : 0), 0);
                const mass = c.reduce((s, ck) => s + Math.abs(ck), 0);
                const depth = polynomialDepth(degree);
                next = {
                  ct: cur.ct.polyval(c),
                  twin: cur.twin.map((a) => polynomialPlain(c, a)),
                  err:
                    deriv(mag + cur.err) * cur.err +
                    depth * tol('multiply', mass * Math.max(1, mag) ** degree),
                };
              }
            }
            log.push(`${op}@${cur.ct.level}`);
            if (maxAbs(next.twin) > MAX_MAGNITUDE) break; // would exceed the smallest preset's integer bits
            pool.push(next);
            cur = next;
          }
          // Finish with a sum now and then (rotations on top of whatever came before).
          let final = cur;
          if (rand() < 0.3) {
            const total = cur.twin.reduce((a, b) => a + b, 0);
            final = {
              ct: cur.ct.sum(),
              twin: [total],
              err: LENGTH * cur.err + tol('rotate', LENGTH * maxAbs(cur.twin)),
            };
            log.push('sum');
          }
          const got = final.ct.decrypt();
          const err = Math.max(...got.map((g, i) => Math.abs(g - final.twin[i])));
          assert.ok(err <= final.err, `program ${p} [${log.join(' ')}]: error ${err} > bound ${final.err}`);
          checked++;
        });
      }
      assert.equal(checked, PROGRAMS);
    });
  });
}

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { _crtBasis, _fromRns } from '../he/_rns.ts';
import { HeContext } from '../he/context.ts';
import { decrypt } from '../he/crypt.ts';
import { _rnsFromPlain } from '../he/encoder.ts';
import { Evaluator } from '../he/evaluator.ts';
import { Ciphertext } from '../he/handles.ts';
import { generateKeys, type KeySet } from '../he/keys.ts';
import { decryptLogits, encryptEmbedding } from './coeff-head-client.ts';
import { clientPlanOf, planCoeffHead } from './coeff-head-plan.ts';
import { CoeffHeadEvaluator } from './coeff-head-server.ts';
import { NnError } from './errors.ts';
import { evaluateHeadPlain, type LinearHeadSpec } from './head.ts';

let ctx: HeContext;
let keys: KeySet;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return s / 2 ** 32;
  };
}

function randomHead(d: number, k: number, seed: number): LinearHeadSpec {
  const r = rng(seed);
  return {
    kind: 'linear',
    inputDim: d,
    outputs: k,
    weights: Array.from({ length: k }, () => Array.from({ length: d }, () => (r() - 0.5) * 0.2)),
    bias: Array.from({ length: k }, () => r() - 0.5),
    activation: k === 1 ? 'sigmoid' : 'softmax',
    classes: k === 1 ? ['neg', 'pos'] : Array.from({ length: k }, (_, i) => `c${i}`),
  };
}

/** Loads uploaded bytes the way a server would (hardened loading is tested in the he layer). */
function load(bytes: Uint8Array, d: number): Ciphertext {
  const raw = new ctx._seal.Ciphertext();
  raw.loadFromArray(ctx._ctx, bytes);
  return new Ciphertext(ctx, raw, { kind: 'coeffs', length: d });
}

before(async () => {
  ctx = await HeContext.create('ckks-8192-coeff');
  keys = generateKeys(ctx, {}); // rotation-free: no relinearization, no Galois keys
});
after(() => {
  keys[Symbol.dispose]();
  ctx[Symbol.dispose]();
});

function run(head: LinearHeadSpec, x: number[], bound: number) {
  const plan = planCoeffHead(head, { params: ctx.params, embeddingBound: bound });
  using server = new CoeffHeadEvaluator(ctx, head, plan);
  const ev = new Evaluator(ctx, keys);
  using input = load(encryptEmbedding(keys, clientPlanOf(plan), x), head.inputDim);
  const outs = server.evaluate(ev, input, server.createMasks(keys));
  return { plan, outs };
}

// Tolerance: the plan's own bound (encoding rounding + fresh noise + 2^40 flood), and 1e-6 absolute.
test('encrypted logits match the float64 head (K=1, one group; K=5 with d=3000, three groups)', () => {
  for (const [d, k, seed] of [
    [64, 1, 1],
    [3000, 5, 2],
  ] as const) {
    const head = randomHead(d, k, seed);
    const r = rng(seed + 10);
    const x = Array.from({ length: d }, () => (r() - 0.5) * 6);
    const { plan, outs } = run(head, x, 8);
    assert.equal(outs.length, Math.ceil(k / Math.floor(8192 / d)));
    const got = decryptLogits(keys, clientPlanOf(plan), outs);
    const want = evaluateHeadPlain(head, x);
    for (let i = 0; i < k; i++) {
      const err = Math.abs(got[i] - want[i]);
      assert.ok(err <= plan.predictedMaxError, `class ${i}: |Δ| = ${err}, bound ${plan.predictedMaxError}`);
      if (d === 64) assert.ok(err < 1e-7, `small head: |Δ| = ${err}`);
    }
    for (const o of outs) o[Symbol.dispose]();
  }
});

/**
 * Fraction of coefficients whose centered value is below Q/8. The plan sizes scales so that
 * S·(‖w‖₁·bound + |b|) < Q/8, so every unmasked cross term is below it; uniform values are with
 * probability 1/4.
 */
function smallFraction(ct: Ciphertext, skip: readonly number[]): { small: number; meanRatio: number[] } {
  using pt = decrypt(keys, ct);
  const n = ctx.params.polyModulusDegree;
  const primes = ctx.level(pt.level).primes;
  const rns = _rnsFromPlain(pt);
  const basis = _crtBasis(ctx.level(pt.level));
  const skipSet = new Set(skip);
  let small = 0;
  let count = 0;
  const sums = primes.map(() => 0);
  for (let i = 0; i < n; i++) {
    if (skipSet.has(i)) continue;
    count++;
    const v = _fromRns(rns, n, i, basis);
    if ((v < 0n ? -v : v) < basis.modulus >> 3n) small++;
    primes.forEach((p, j) => {
      sums[j] += Number(rns[j * n + i]) / Number(p);
    });
  }
  return { small: small / count, meanRatio: sums.map((s) => s / count) };
}

test('the returned plaintext reveals only the logits: every other coefficient is uniform mod Q', () => {
  const d = 512;
  const head = randomHead(d, 3, 7);
  const r = rng(99);
  const x = Array.from({ length: d }, () => (r() - 0.5) * 2);
  const plan = planCoeffHead(head, { params: ctx.params, embeddingBound: 4 });
  using server = new CoeffHeadEvaluator(ctx, head, plan);
  const ev = new Evaluator(ctx, keys);
  using input = load(encryptEmbedding(keys, clientPlanOf(plan), x), d);
  // Control: without the mask the cross terms Σ x_i·w_j are small numbers, so the check can fail.
  const zeroMasks = plan.groups.map(() => {
    const raw = new ctx._seal.Ciphertext();
    const enc = new ctx._seal.Encryptor(ctx._ctx, keys._publicKey);
    enc.encryptZero(raw);
    enc.delete();
    raw.setScale(2 ** plan.outputScaleBits);
    return new Ciphertext(ctx, raw, { kind: 'coeffs', length: 3 });
  });
  const [unmasked] = server.evaluate(ev, input, zeroMasks);
  const control = smallFraction(unmasked, plan.groups[0]);
  assert.ok(
    control.small > 0.9,
    `control: unmasked cross terms should be small, got fraction ${control.small}`,
  );
  unmasked[Symbol.dispose]();

  const outs = server.evaluate(ev, input, server.createMasks(keys));
  const masked = smallFraction(outs[0], plan.groups[0]);
  // Uniform mod Q: P(|v| < Q/8) = 1/4 (±0.005 at 1σ over 8,189 coefficients); mean r/q = 0.5 ± 0.0032.
  assert.ok(Math.abs(masked.small - 0.25) < 0.03, `masked: fraction below Q/8 is ${masked.small}`);
  for (const m of masked.meanRatio) assert.ok(Math.abs(m - 0.5) < 0.02, `residue mean ratio ${m}`);
  // The logits themselves are still exact.
  const got = decryptLogits(keys, clientPlanOf(plan), outs);
  const want = evaluateHeadPlain(head, x);
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-6);
  for (const o of outs) o[Symbol.dispose]();
});

test('every response has the same level, size and scale, whatever the input', () => {
  const head = randomHead(128, 2, 3);
  const shapes = new Set<string>();
  for (const s of [1, 2, 3]) {
    const r = rng(s);
    const { outs } = run(
      head,
      Array.from({ length: 128 }, () => (r() - 0.5) * s),
      4,
    );
    for (const o of outs) {
      shapes.add(`${o.level}/${o.size}/${o.scale}`);
      o[Symbol.dispose]();
    }
  }
  assert.equal(shapes.size, 1, [...shapes].join(' '));
});

test('the client refuses embeddings outside the plan bound, and wrong lengths', () => {
  const head = randomHead(16, 1, 4);
  const plan = clientPlanOf(planCoeffHead(head, { params: ctx.params, embeddingBound: 2 }));
  assert.throws(
    () => encryptEmbedding(keys, plan, new Array(16).fill(3)),
    (e) => e instanceof NnError && e.code === 'NN_INVALID_ARGUMENT',
  );
  assert.throws(
    () => encryptEmbedding(keys, plan, new Array(15).fill(0)),
    (e) => e instanceof NnError && e.code === 'NN_SHAPE_MISMATCH',
  );
  assert.throws(
    () => encryptEmbedding(keys, plan, [Number.NaN, ...new Array(15).fill(0)]),
    (e) => e instanceof NnError,
  );
});

test('the client plan omits the weight scale and the flood size', () => {
  const plan = clientPlanOf(planCoeffHead(randomHead(16, 1, 5), { params: ctx.params, embeddingBound: 2 }));
  assert.equal('weightScaleBits' in plan, false);
  assert.equal('floodBits' in plan, false);
});

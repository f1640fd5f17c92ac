import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeContext } from '../../he/context.ts';
import { generateKeys } from '../../he/keys.ts';
import { NnError } from '../errors.ts';
import { packInput } from './client.ts';
import { EncryptedCnn, inferLocally } from './encrypted-executor.ts';
import { runStages } from './executor.ts';
import type { CnnLayer, CnnModel } from './ir.ts';
import { loadClientPlan, loadServerPlan } from './plan.ts';
import { planCnn } from './planner.ts';
import { referenceForward } from './reference.ts';
import { SimBackend } from './sim-backend.ts';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}
const rand = (n: number, r: () => number, k = 1) => Array.from({ length: n }, () => r() * k);

function model(inputShape: number[], layers: CnnLayer[]): CnnModel {
  return { format: 'blinddx-cnn', version: 1, name: 'test', inputShape, layers };
}

/**
 * Runs the plan on the noiseless simulator and compares with the float64 reference. Unprotected by
 * default, so the depths below are the network's own (protection adds the extraction level).
 */
function checkExact(m: CnnModel, seed: number, tol = 1e-9, protect = false): ReturnType<typeof planCnn> {
  const plan = planCnn(m, { protect });
  const r = rng(seed);
  const pixels = rand(
    m.inputShape.reduce((a, b) => a * b, 1),
    r,
    2,
  );
  const sim = new SimBackend(
    { ...plan.client.params, scaleBits: plan.client.params.scaleBits! },
    { noise: false },
  );
  const out = sim.decrypt(
    runStages(sim, plan.server.stages, sim.encrypt(packInput(plan.client, pixels), plan.client.input.period)),
  );
  const want = referenceForward(m, Float64Array.from(pixels));
  assert.equal(plan.client.output.positions.length, want.length);
  plan.client.output.positions.forEach((p, i) => {
    assert.ok(
      Math.abs(out[p] - want[i]) <= tol * Math.max(1, Math.abs(want[i])),
      `output ${i}: ${out[p]} vs ${want[i]}`,
    );
  });
  if (protect) {
    const outputs = new Set(plan.client.output.positions);
    for (const [j, v] of out.entries())
      assert.ok(outputs.has(j) || v === 0, `extracted: slot ${j} holds ${v}`);
  }
  return plan;
}

/** The TenSEAL MNIST tutorial shape (conv 7×7 stride 3 → x² → dense 64 → x² → dense 10), seeded weights. */
function tensealMnistShape(): CnnModel {
  const r = rng(1);
  return model(
    [1, 28, 28],
    [
      {
        op: 'conv2d',
        inChannels: 1,
        outChannels: 4,
        kernel: [7, 7],
        stride: [3, 3],
        padding: [0, 0],
        weight: rand(196, r, 0.5),
        bias: rand(4, r),
      },
      { op: 'poly', coeffs: [0, 0, 1] },
      { op: 'flatten' },
      { op: 'dense', inFeatures: 256, outFeatures: 64, weight: rand(256 * 64, r, 0.1), bias: rand(64, r) },
      { op: 'poly', coeffs: [0, 0, 1] },
      { op: 'dense', inFeatures: 64, outFeatures: 10, weight: rand(640, r, 0.1), bias: rand(10, r) },
    ],
  );
}

test('TenSEAL MNIST shape: im2col conv + BSGS dense layers, depth 5 at N=8192 with 11 power-of-two Galois steps', () => {
  const m = tensealMnistShape();
  const plan = checkExact(m, 2);
  assert.equal(plan.stats.depth, 5);
  assert.equal(plan.client.params.polyModulusDegree, 8192);
  assert.deepEqual(plan.client.params.coeffModulusBits, [38, 28, 28, 28, 28, 28, 38]);
  assert.equal(plan.client.preset, undefined);
  assert.equal(plan.client.input.kind, 'im2col');
  assert.deepEqual(
    plan.stats.schedule.map((s) => [s.kind, s.level, s.scaleBits]),
    [
      ['im2col-conv', 4, 28],
      ['square', 3, 28],
      ['linear', 2, 28],
      ['square', 1, 28],
      ['linear', 0, 28],
    ],
  );
  assert.deepEqual(plan.client.galoisSteps, [1, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]);
  assert.ok(plan.stats.rotations <= 31, `rotations ${plan.stats.rotations}`);
});

test('protected by default: one extraction level, a 60-bit output prime, 128-bit parameters, same Galois steps', () => {
  const m = tensealMnistShape();
  const open = checkExact(m, 2);
  const plan = checkExact(m, 2, 1e-9, true);
  assert.deepEqual(planCnn(m).client, plan.client, 'protect is the default');
  assert.equal(plan.stats.depth, 6);
  assert.equal(plan.client.params.polyModulusDegree, 16384);
  assert.deepEqual(plan.client.params.coeffModulusBits, [60, 53, 53, 53, 53, 53, 53, 60]);
  assert.deepEqual(plan.client.galoisSteps, open.client.galoisSteps);
  assert.deepEqual(plan.client.protection, { level: 0, scaleBits: 47, floodSigmaBits: 31, lambda: 14 });
  assert.deepEqual(plan.stats.schedule.at(-1), {
    stage: plan.server.stages.length - 1,
    kind: 'extract',
    level: 0,
    scaleBits: 47,
  });
  assert.equal(open.client.protection, undefined);
});
test('degree-2 polynomials, padding, avgpool, second conv and global pool plan and match the reference', () => {
  const r = rng(3);
  const m = model(
    [2, 8, 8],
    [
      {
        op: 'conv2d',
        inChannels: 2,
        outChannels: 3,
        kernel: [3, 3],
        stride: [1, 1],
        padding: [1, 1],
        weight: rand(54, r),
        bias: rand(3, r),
      },
      {
        op: 'batchnorm',
        gamma: [1, 0.5, 2],
        beta: [0.1, 0, -0.1],
        mean: [0, 0.2, 0],
        variance: [1, 2, 0.5],
        epsilon: 1e-5,
      },
      { op: 'poly', coeffs: [0.1, 0.5, 0.25] },
      { op: 'avgpool2d', kernel: [2, 2], stride: [2, 2], padding: [0, 0] },
      {
        op: 'conv2d',
        inChannels: 3,
        outChannels: 4,
        kernel: [3, 3],
        stride: [1, 1],
        padding: [0, 0],
        weight: rand(108, r),
        bias: rand(4, r),
      },
      { op: 'poly', coeffs: [0, 0, 1] },
      { op: 'globalavgpool' },
      { op: 'dense', inFeatures: 4, outFeatures: 3, weight: rand(12, r), bias: rand(3, r) },
      { op: 'poly', coeffs: [1, -0.5, 2] },
    ],
  );
  const plan = checkExact(m, 4);
  // im2col conv, fused avgpool+conv, fused gap+dense, three squares, one final affine
  assert.equal(plan.stats.depth, 7);
});

test('a model without convolution packs its input as a vector', () => {
  const r = rng(5);
  const m = model(
    [20],
    [
      { op: 'dense', inFeatures: 20, outFeatures: 7, weight: rand(140, r), bias: rand(7, r) },
      { op: 'poly', coeffs: [0, 1, 1] },
      { op: 'dense', inFeatures: 7, outFeatures: 2, weight: rand(14, r) },
    ],
  );
  const plan = checkExact(m, 6);
  assert.equal(plan.client.input.kind, 'vector');
});

test('residual adds plan (saved operand re-aligned) and match the reference', () => {
  const r = rng(8);
  const m = model(
    [8],
    [
      { op: 'dense', inFeatures: 8, outFeatures: 8, weight: rand(64, r), bias: rand(8, r) },
      { op: 'poly', coeffs: [0.1, 0.2, 0.5] },
      { op: 'dense', inFeatures: 8, outFeatures: 8, weight: rand(64, r), bias: rand(8, r) },
      { op: 'add', from: 1 },
      { op: 'add', from: -1 },
      { op: 'dense', inFeatures: 8, outFeatures: 3, weight: rand(24, r) },
    ],
  );
  const plan = checkExact(m, 9);
  // dense, square, affine (the polynomial's a·u+b must be real before it is saved), dense, dense
  assert.equal(plan.stats.depth, 5);
});

/** x² → x² on 8 features, and the same with two non-monic polynomials (a·x+b ≠ identity between). */
const squareChain = (first: number[], second: number[]) =>
  model(
    [8],
    [
      { op: 'poly', coeffs: first },
      { op: 'poly', coeffs: second },
    ],
  );

test('a square straight after a square costs no level of its own (the a·x+b between folds into the shift)', () => {
  const kinds = (p: ReturnType<typeof planCnn>) => p.server.stages.map((st) => st.kind);
  // x² → x²: the pending identity x·1 + 0 used to be its own affine stage (depth 3).
  const x4 = checkExact(squareChain([0, 0, 1], [0, 0, 1]), 12);
  assert.equal(x4.stats.depth, 2);
  assert.deepEqual(kinds(x4), ['square', 'square']);
  // Non-identity: (0.25x² + 0.5x + 0.1) then 0.5u² − 0.3u + 0.2 — still two squares and one final affine.
  const poly = checkExact(squareChain([0.1, 0.5, 0.25], [0.2, -0.3, 0.5]), 13);
  assert.equal(poly.stats.depth, 3);
  assert.deepEqual(kinds(poly), ['square', 'square', 'affine']);
  // A zero x² term ([c0, c1, 0]) is elementwise affine: folded, not dropped.
  const lin = checkExact(squareChain([0.1, 0.5, 0.25], [0.3, -2, 0]), 14);
  assert.deepEqual(kinds(lin), ['square', 'affine']);
});

test('square → square encrypted (real SEAL, N = 8192) matches float64 within 1e-3·max(1, |ref|)', async () => {
  // Tolerance: CKKS error at scale 2^40 is ~1e-6 for |x| ≤ 1 here; a wrong shift or scale is O(0.1).
  const r = rng(15);
  for (const [m, preset, depth] of [
    // x⁴ fits the two-level ring only because nothing sits between the squares.
    [squareChain([0, 0, 1], [0, 0, 1]), 'ckks-8192-d2', 2],
    [squareChain([0.1, 0.5, 0.25], [0, -0.3, 0.5]), 'ckks-8192-d3', 3],
  ] as const) {
    using ctx = await HeContext.create(preset);
    const plan = planCnn(m, { preset, protect: false });
    assert.equal(plan.stats.depth, depth);
    using keys = generateKeys(ctx, { relin: plan.client.relin, galoisSteps: plan.client.galoisSteps });
    using cnn = new EncryptedCnn(ctx, keys, plan.server);
    const pixels = rand(8, r, 2);
    const got = inferLocally(ctx, keys, plan.client, cnn, pixels);
    referenceForward(m, Float64Array.from(pixels)).forEach((w, i) => {
      assert.ok(Math.abs(got[i] - w) <= 1e-3 * Math.max(1, Math.abs(w)), `output ${i}: ${got[i]} vs ${w}`);
    });
  }
});

test('unsupported constructs are all reported at once; artifacts round-trip through JSON', () => {
  const m = model(
    [1, 4, 4],
    [
      {
        op: 'conv2d',
        inChannels: 1,
        outChannels: 1,
        kernel: [3, 3],
        stride: [1, 1],
        padding: [1, 1],
        weight: Array(9).fill(0.1),
      },
      { op: 'poly', coeffs: [0, 0, 0, 1] },
      { op: 'add', from: -1 },
    ],
  );
  assert.throws(
    () => planCnn(m),
    (e: unknown) =>
      e instanceof NnError && /layer 1 \(poly\)/.test(e.message) && /im2col-packed input/.test(e.message),
  );
  const ok = planCnn(
    model([4], [{ op: 'dense', inFeatures: 4, outFeatures: 2, weight: [1, 2, 3, 4, 5, 6, 7, 8] }]),
  );
  assert.deepEqual(loadClientPlan(JSON.parse(JSON.stringify(ok.client))), ok.client);
  assert.deepEqual(loadServerPlan(JSON.parse(JSON.stringify(ok.server))), ok.server);
  assert.throws(() => loadServerPlan({ ...ok.server, version: 99 }), NnError);
  assert.throws(() => loadClientPlan(ok.server), NnError);
});

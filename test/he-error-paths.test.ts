// Failed operations must not leak WebAssembly memory: a server that answers every bad request
// (say, a rotation whose Galois key the client did not upload) with a leak dies at 4 GiB. Each
// failing call below leaked one ciphertext (~0.13 MB at N=4096) before the fix in innerSum and
// matVec; the control proves the probe sees a leak of that size.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeContext } from '../src/he/context.ts';
import { encryptSymmetric } from '../src/he/crypt.ts';
import { encodeSlots } from '../src/he/encoder.ts';
import { HeError } from '../src/he/errors.ts';
import { Evaluator } from '../src/he/evaluator.ts';
import type { Ciphertext } from '../src/he/handles.ts';
import { generateKeys } from '../src/he/keys.ts';
import { matVec, planMatVec } from '../src/he/linear-transform.ts';
import { _trackWasmHeap, _wasmHeapBytes } from '../src/he/node/_wasm-heap.ts';
import { VectorContext } from '../src/he/vector.ts';

const ROUNDS = 150;
const MiB = 2 ** 20;

/** Heap growth over ROUNDS calls of `f` (each expected to throw), after a warm-up of the pool. */
function growth(f: () => void, code: string): number {
  const once = () =>
    assert.throws(f, (e: unknown) => e instanceof HeError && e.code === code, `expected ${code}`);
  for (let i = 0; i < 20; i++) once();
  const before = _wasmHeapBytes()!;
  for (let i = 0; i < ROUNDS; i++) once();
  return (_wasmHeapBytes()! - before) / MiB;
}

test('failing innerSum / matVec / vector ops leave the wasm heap flat', async () => {
  assert.ok(_trackWasmHeap(), 'probe installed before SEAL loads');
  using ctx = await HeContext.create('ckks-4096-d1');
  const m = { rows: 16, cols: 16, data: new Array(256).fill(0.5) };
  const plan = planMatVec(m);
  assert.deepEqual(plan.galoisSteps, [1, 2, 3, 4, 8, 12]);
  // Keys for every step but the last giant step (12), and no InnerSum step 1.
  using keys = generateKeys(ctx, { galoisSteps: plan.galoisSteps.filter((s) => s !== 12 && s !== 1) });
  const ev = new Evaluator(ctx, keys);
  using pt = encodeSlots(ctx, new Array(16).fill(0.25), { period: 16 });
  using ct = encryptSymmetric(keys, pt);

  const inner = growth(() => ev.innerSum(ct, 16), 'HE_MISSING_GALOIS_KEY');
  const keysAll = generateKeys(ctx, { galoisSteps: plan.galoisSteps.filter((s) => s !== 12) });
  const ev2 = new Evaluator(ctx, keysAll);
  const mat = growth(() => matVec(ev2, ct, m, plan), 'HE_MISSING_GALOIS_KEY');
  keysAll[Symbol.dispose]();

  using vctx = await VectorContext.create('ckks-4096-d1', { maxLength: 4, sum: true });
  using v = vctx.encrypt([1, 2, 3, 4]);
  const vec = growth(() => vctx.tidy(() => v.mul(0.5).add(1).add([1, 2])), 'HE_LAYOUT_MISMATCH');

  // Control: keeping ROUNDS ciphertexts is visible (0.13 MB each at N=4096, level 1: ~19 MiB).
  const kept: Ciphertext[] = [];
  const before = _wasmHeapBytes()!;
  for (let i = 0; i < ROUNDS; i++) kept.push(ct.clone());
  const control = (_wasmHeapBytes()! - before) / MiB;
  for (const c of kept) c[Symbol.dispose]();

  assert.ok(control >= 10, `control leak of ${ROUNDS} ciphertexts grew the heap by ${control} MiB`);
  for (const [what, mib] of [
    ['innerSum', inner],
    ['matVec', mat],
    ['vector tidy', vec],
  ] as const)
    assert.ok(mib < 2, `${what}: ${ROUNDS} failures grew the wasm heap by ${mib.toFixed(1)} MiB`);
});

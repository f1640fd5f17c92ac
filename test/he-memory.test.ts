// Long run: WebAssembly memory never shrinks and is capped at 4 GiB, so one undisposed SEAL object
// per request would eventually take a server down. 10,000 full client+server cycles must leave the
// wasm heap flat after warm-up; a deliberate leak afterwards proves the probe would notice.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeContext } from '../src/he/context.ts';
import { decrypt, encryptSymmetric } from '../src/he/crypt.ts';
import { decodeSlots, encodeSlots } from '../src/he/encoder.ts';
import { Evaluator } from '../src/he/evaluator.ts';
import type { Ciphertext } from '../src/he/handles.ts';
import { generateKeys } from '../src/he/keys.ts';
import { _trackWasmHeap, _wasmHeapBytes } from '../src/he/node/_wasm-heap.ts';

const CYCLES = 10_000;
const SAMPLE_EVERY = 100;
/** Growth is tolerated only while SEAL's memory pool fills its free lists for the op mix. */
const WARMUP = 1_000;
const LENGTH = 16;
/** Scale 2^32, one rescale: |error| of x·w + x·w stays far below 1e-4 for |x|, |w| ≤ 1. */
const TOLERANCE = 1e-4;
const MiB = 2 ** 20;

test(`${CYCLES} encrypt → multiply-plain + add + rescale → decrypt → dispose cycles keep the wasm heap flat`, async () => {
  assert.ok(_trackWasmHeap(), 'wasm heap probe installed before SEAL loads');
  using ctx = await HeContext.create('ckks-4096-d1');
  assert.equal(typeof _wasmHeapBytes(), 'number', 'the probe captured SEAL’s WebAssembly.Memory');
  using keys = generateKeys(ctx);
  const ev = new Evaluator(ctx, keys);
  const weights = Array.from({ length: LENGTH }, (_, i) => Math.cos(i));
  using w = encodeSlots(ctx, weights);
  const values = new Float64Array(LENGTH);

  const heap: number[] = [];
  const rss: number[] = [];
  let maxErr = 0;
  const t0 = performance.now();
  for (let i = 1; i <= CYCLES; i++) {
    for (let k = 0; k < LENGTH; k++) values[k] = Math.sin(i + k);
    using pt = encodeSlots(ctx, values);
    using ct = encryptSymmetric(keys, pt);
    using prod = ev.multiplyPlain(ct, w);
    using sum = ev.add(prod, prod);
    using rs = ev.rescale(sum);
    using dec = decrypt(keys, rs);
    if (i % 500 === 1) {
      const got = decodeSlots(dec);
      for (let k = 0; k < LENGTH; k++)
        maxErr = Math.max(maxErr, Math.abs(got[k] - 2 * values[k] * weights[k]));
    }
    if (i === 1 || i % SAMPLE_EVERY === 0) {
      heap.push(_wasmHeapBytes()!);
      rss.push(process.memoryUsage().rss);
    }
  }
  const seconds = (performance.now() - t0) / 1000;

  assert.ok(maxErr < TOLERANCE, `max error ${maxErr}`);
  // Sample j covers cycle j·100 (sample 0 is cycle 1).
  const growths = heap.flatMap((h, j) => (j > 0 && h > heap[j - 1] ? [j * SAMPLE_EVERY] : []));
  const warm = heap[WARMUP / SAMPLE_EVERY];
  const last = heap[heap.length - 1];
  const rssGrowthMiB = (rss[rss.length - 1] - rss[WARMUP / SAMPLE_EVERY]) / MiB;
  console.log(
    `# ${CYCLES} cycles in ${seconds.toFixed(1)} s (${((seconds * 1000) / CYCLES).toFixed(2)} ms/cycle); ` +
      `wasm heap ${heap[0] / MiB} MiB after cycle 1, ${warm / MiB} MiB at ${WARMUP}, ${last / MiB} MiB at ${CYCLES}; ` +
      `growth events at cycles [${growths.join(', ')}]; ` +
      `RSS ${(rss[0] / MiB).toFixed(0)} → ${(rss[rss.length - 1] / MiB).toFixed(0)} MiB ` +
      `(${rssGrowthMiB.toFixed(1)} MiB after warm-up); max |error| ${maxErr.toExponential(2)}`,
  );
  assert.ok(growths.length <= 1, `at most one growth event, saw ${growths.length}`);
  assert.ok(
    growths.every((c) => c <= WARMUP),
    `growth only during warm-up, saw cycles ${growths}`,
  );
  assert.equal(last, warm, 'wasm heap flat after warm-up');
  // RSS also moves with the JS heap and the allocator; without dispose it grew ~560 MB per 1,000.
  assert.ok(rssGrowthMiB < 64, `RSS grew ${rssGrowthMiB.toFixed(1)} MiB after warm-up`);

  // Negative control: the same cycle without dispose must show up in the probe.
  const before = _wasmHeapBytes()!;
  const leaked: Ciphertext[] = [];
  for (let i = 0; i < 300; i++) {
    using pt = encodeSlots(ctx, values);
    leaked.push(encryptSymmetric(keys, pt));
  }
  const grown = _wasmHeapBytes()! - before;
  for (const c of leaked) c[Symbol.dispose]();
  console.log(`# control: 300 undisposed ciphertexts grew the wasm heap by ${(grown / MiB).toFixed(1)} MiB`);
  assert.ok(grown > 0, 'the probe sees a leak');
});

// Worker-side task kinds for the pool-speedup part of bench/he.ts: the shape of a linear head
// (multiply by plaintext weights, rescale, InnerSum by rotations) on a ciphertext that arrives as
// bytes, loaded the way a server must (hardened). Keys are loaded once per worker (`setup`), as a
// server caches a client's parsed keys.

import { saveCiphertext } from '../src/he/crypt.ts';
import { encodeSlots } from '../src/he/encoder.ts';
import { HeError } from '../src/he/errors.ts';
import { Evaluator } from '../src/he/evaluator.ts';
import type { Plaintext } from '../src/he/handles.ts';
import { loadCiphertext, loadEvaluationKeys } from '../src/he/hardened-load.ts';
import type { EvaluationKeys } from '../src/he/keys.ts';
import { defineHandlers, type WorkerEnv } from '../src/he/node/pool-protocol.ts';

/** Slots summed by the head (log2 of it rotations). */
export const HEAD_WIDTH = 16;

interface Loaded {
  readonly keys: EvaluationKeys;
  readonly weights: Plaintext;
}

export const handlers = defineHandlers({
  /** Loads the client's public key and Galois keys into this worker and encodes the weights. */
  setup: async (
    p: { preset: string; publicKey: Uint8Array; galoisKeys: Uint8Array; galoisSteps: number[] },
    env: WorkerEnv,
  ) => {
    const ctx = await env.context(p.preset);
    const keys = loadEvaluationKeys(
      ctx,
      { publicKey: p.publicKey, galoisKeys: p.galoisKeys },
      { relin: false, galoisSteps: p.galoisSteps },
    );
    const w = Array.from({ length: HEAD_WIDTH }, (_, i) => ((i % 7) - 3) / 4);
    const weights = encodeSlots(ctx, w, { period: HEAD_WIDTH });
    env.state.set(p.preset, { keys, weights } satisfies Loaded);
    return env.workerId;
  },
  /** One encrypted "head" evaluation: bytes in, bytes out. */
  head: async (p: { preset: string; ct: Uint8Array }, env: WorkerEnv) => {
    const ctx = await env.context(p.preset);
    const loaded = env.state.get(p.preset) as Loaded | undefined;
    if (loaded === undefined)
      throw new HeError('HE_MISSING_GALOIS_KEY', 'cannot run head: this worker has no keys (run setup)');
    using ct = loadCiphertext(ctx, p.ct, {
      layout: { kind: 'slots', length: HEAD_WIDTH, period: HEAD_WIDTH },
      level: ctx.maxLevel,
      scale: ctx.defaultScale,
    });
    const ev = new Evaluator(ctx, loaded.keys);
    using prod = ev.multiplyPlain(ct, loaded.weights);
    using rs = ev.rescale(prod);
    using sum = ev.innerSum(rs, HEAD_WIDTH);
    return saveCiphertext(sum);
  },
});

import { _randomRns } from './_rns.ts';
import { _encryptMask } from './crypt.ts';
import { _plainFromRns } from './encoder.ts';
import { HeError } from './errors.ts';
import type { Ciphertext } from './handles.ts';
import type { EvaluationKeys } from './keys.ts';

/** What a returned coefficient-layout ciphertext may reveal, and how hard to hide the rest. */
export interface ResultMaskSpec {
  /** Level of the ciphertext the mask will be added to. */
  readonly level: number;
  /** Its scale (the mask must match exactly). */
  readonly scale: number;
  /** Coefficient positions that carry outputs; every other coefficient is masked uniformly mod Q. */
  readonly outputs: readonly number[];
  /** Real values added at the outputs (e.g. a bias), encoded at `scale`. Default zeros. */
  readonly addValues?: readonly number[];
  /**
   * Noise flooding at the outputs: a uniform integer in [−2^floodBits, 2^floodBits] per output
   * coefficient, in scaled units. Chosen by the caller as λ + log2(noise bound) so the statistical
   * distance to a weight-independent distribution is at most 2^−λ.
   */
  readonly floodBits: number;
}

function randomBits(bits: number): bigint {
  const bytes = new Uint8Array(Math.ceil((bits + 1) / 8) + 8);
  crypto.getRandomValues(bytes);
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  const range = (1n << BigInt(bits + 1)) + 1n; // size of [−2^bits, 2^bits]
  // 64 extra random bits make the modulo bias below 2^−64.
  return (v % range) - (1n << BigInt(bits));
}

/**
 * Builds the ciphertext a server adds to a coefficient-layout result before returning it:
 * `Enc_pk(R)` where R is uniform mod Q on every non-output coefficient and `value·scale + flood`
 * on each output. Adding it
 * - hides every coefficient except the outputs (one-time pad in Z_Q),
 * - re-randomizes the ciphertext (a fresh public-key encryption: otherwise c1 = a·W would reveal
 *   the weights W to a client who knows a),
 * - floods the output noise so it no longer depends on the weights.
 *
 * The mask does not depend on the query, so servers can make masks ahead of time, off the
 * request path; each mask must be used exactly once.
 */
export function createResultMask(keys: EvaluationKeys, spec: ResultMaskSpec): Ciphertext {
  const ctx = keys.context;
  const n = ctx.params.polyModulusDegree;
  const info = ctx.level(spec.level);
  if (!Number.isInteger(spec.floodBits) || spec.floodBits < 0 || spec.floodBits > 200) {
    throw new HeError(
      'HE_INVALID_ARGUMENT',
      `cannot create result mask: "floodBits" expected an integer in [0, 200], got ${spec.floodBits}`,
    );
  }
  const outputs = spec.outputs;
  for (const p of outputs) {
    if (!Number.isInteger(p) || p < 0 || p >= n)
      throw new HeError(
        'HE_INVALID_ARGUMENT',
        `cannot create result mask: output position ${p} outside [0, ${n})`,
      );
  }
  const r = _randomRns(n, info, (b) => crypto.getRandomValues(b));
  outputs.forEach((p, k) => {
    const value = BigInt(Math.round((spec.addValues?.[k] ?? 0) * spec.scale)) + randomBits(spec.floodBits);
    info.primes.forEach((q, j) => {
      let v = value % q;
      if (v < 0n) v += q;
      r[j * n + p] = v;
    });
  });
  using pt = _plainFromRns(ctx, spec.level, spec.scale, r, {
    kind: 'coeffs',
    length: outputs.length,
    positions: [...outputs],
  });
  return _encryptMask(keys, pt, 'create result mask');
}

import { _encryptMask } from './crypt.ts';
import { _plainFromRns } from './encoder.ts';
import { HeError } from './errors.ts';
import type { Ciphertext } from './handles.ts';
import type { EvaluationKeys } from './keys.ts';
import type { Layout } from './layout.ts';
import { uniforms53 } from './uniform.ts';

/** How to re-randomize and flood a slot-layout result (see {@link createFloodMask}). */
export interface FloodMaskSpec {
  /** Level of the result the mask is added to. */
  readonly level: number;
  /** Its scale (must match exactly). */
  readonly scale: number;
  /** Its layout (additions refuse different layouts). */
  readonly layout: Layout;
  /**
   * Standard deviation, in scaled units, of the rounded Gaussian added to every coefficient (in
   * [2^0, 2^45]). By Pinsker, a weight-dependent noise polynomial e is hidden up to statistical
   * distance ‖e‖₂/(2σ).
   */
  readonly sigma: number;
}

/** Standard normal samples from a CSPRNG (Box–Muller over 53-bit uniforms). */
function gaussians(count: number): Float64Array {
  const out = new Float64Array(count);
  const u = uniforms53(2 * Math.ceil(count / 2));
  for (let i = 0; i < count; i += 2) {
    // 1 − u is in (0, 1]: never 0, so the logarithm is finite.
    const r = Math.sqrt(-2 * Math.log(1 - u[i]));
    const t = 2 * Math.PI * u[i + 1];
    out[i] = r * Math.cos(t);
    if (i + 1 < count) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

/**
 * Builds what a server adds to a slot-layout result before returning it: a fresh public-key
 * encryption of a polynomial whose coefficients are independent rounded Gaussians of width
 * `sigma`. Adding it
 * - re-randomizes (c0, c1): the returned pair is a fresh encryption, not a deterministic function of
 *   the input ciphertext, the weights and the Galois keys;
 * - floods the noise: the decrypted coefficients are m + e + g with g ~ N(0, σ²)^N, so e (which
 *   depends on the weights) is hidden up to statistical distance ‖e‖₂/(2σ).
 *
 * The mask does not depend on the query; each must be used exactly once.
 */
export function createFloodMask(keys: EvaluationKeys, spec: FloodMaskSpec): Ciphertext {
  const ctx = keys.context;
  const n = ctx.params.polyModulusDegree;
  if (!(spec.sigma >= 1 && spec.sigma <= 2 ** 45)) {
    throw new HeError(
      'HE_INVALID_ARGUMENT',
      `cannot create flood mask: "sigma" expected a number in [1, 2^45], got ${spec.sigma}`,
    );
  }
  const info = ctx.level(spec.level);
  const l = info.primes.length;
  const g = gaussians(n);
  const rns = new BigUint64Array(n * l);
  for (let i = 0; i < n; i++) {
    const v = BigInt(Math.round(g[i] * spec.sigma));
    info.primes.forEach((q, j) => {
      let r = v % q;
      if (r < 0n) r += q;
      rns[j * n + i] = r;
    });
  }
  using pt = _plainFromRns(ctx, spec.level, spec.scale, rns, spec.layout);
  return _encryptMask(keys, pt, 'create flood mask');
}

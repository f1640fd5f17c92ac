import { decrypt, encryptSymmetricSeeded } from '../he/crypt.ts';
import { decodeCoeffs, encodeCoeffs } from '../he/encoder.ts';
import type { Ciphertext } from '../he/handles.ts';
import type { KeySet } from '../he/keys.ts';
import type { CoeffHeadClientPlan } from './coeff-head-plan.ts';
import { NnError } from './errors.ts';

/**
 * Client side: encode the embedding in coefficients 0…d−1 at Δx and encrypt it with the secret
 * key in SEAL's seeded form (half the bytes). Refuses embeddings outside the plan's bound, because
 * the result would silently wrap around the modulus.
 */
export function encryptEmbedding(
  keys: KeySet,
  plan: CoeffHeadClientPlan,
  embedding: ArrayLike<number>,
): Uint8Array {
  if (embedding.length !== plan.inputDim) {
    throw new NnError(
      'NN_SHAPE_MISMATCH',
      `cannot encrypt embedding: ${embedding.length} values, the model wants ${plan.inputDim}`,
    );
  }
  for (let i = 0; i < embedding.length; i++) {
    const v = embedding[i];
    if (!Number.isFinite(v) || Math.abs(v) > plan.embeddingBound) {
      throw new NnError(
        'NN_INVALID_ARGUMENT',
        `cannot encrypt embedding: value ${i} is outside ±${plan.embeddingBound} (the model's declared range)`,
      );
    }
  }
  using pt = encodeCoeffs(keys.context, embedding, { scale: 2 ** plan.inputScaleBits });
  return encryptSymmetricSeeded(keys, pt);
}

/** Decrypts the returned ciphertexts and reads the K logits from their output coefficients. */
export function decryptLogits(
  keys: KeySet,
  plan: CoeffHeadClientPlan,
  results: readonly Ciphertext[],
): Float64Array {
  if (results.length !== plan.groups.length) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot decrypt logits: expected ${plan.groups.length} ciphertexts, got ${results.length}`,
    );
  }
  const logits = new Float64Array(plan.outputs);
  let k = 0;
  results.forEach((ct, g) => {
    using pt = decrypt(keys, ct);
    for (const v of decodeCoeffs(pt, plan.groups[g])) logits[k++] = v;
  });
  return logits;
}

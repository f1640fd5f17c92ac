/**
 * Worker-side loading shared by the engines' task handlers (`seal-head-handlers.ts`,
 * `cnn-handlers.ts`): `he` refusals of the caller's bytes become catalog codes, and a request's
 * input ciphertexts are all loaded (and so checked) before any computation.
 */
import type { HeContext } from '../../he/context.ts';
import { HeError } from '../../he/errors.ts';
import type { Ciphertext } from '../../he/handles.ts';
import { type CiphertextExpectations, loadCiphertext } from '../../he/hardened-load.ts';
import { BlindDxError } from '../../protocol/errors.ts';

/** Rethrows an `he` refusal of caller bytes as `code`; anything else (our bug) unchanged. */
export function codedRefusal(code: 'BAD_KEY_MATERIAL' | 'BAD_CIPHERTEXT', prefix: string, e: unknown): never {
  // Only `he`'s own refusals are the caller's fault; an invalid argument is our bug.
  if (e instanceof HeError && e.code !== 'HE_INVALID_ARGUMENT') {
    throw new BlindDxError(code, `${prefix} refused (${e.code}): ${e.message}`);
  }
  throw e;
}

/**
 * Loads every input through hardened loading with the same expectations. One bad input refuses the
 * batch (`BAD_CIPHERTEXT` naming its index) and frees those already loaded; the caller owns (and
 * disposes) the returned handles.
 */
export function loadInputs(
  ctx: HeContext,
  inputs: readonly Uint8Array[],
  expect: CiphertextExpectations,
): Ciphertext[] {
  const loaded: Ciphertext[] = [];
  for (const [i, bytes] of inputs.entries()) {
    try {
      loaded.push(loadCiphertext(ctx, bytes, expect));
    } catch (e) {
      for (const c of loaded) c[Symbol.dispose]();
      return codedRefusal('BAD_CIPHERTEXT', `infer: input ${i}`, e);
    }
  }
  return loaded;
}

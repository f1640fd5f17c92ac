import type { HeContext } from '../he/context.ts';
import { decrypt, encryptSymmetricSeeded } from '../he/crypt.ts';
import { decodeSlots, encodeSlots, nextPow2 } from '../he/encoder.ts';
import { type Evaluator, innerSumSteps } from '../he/evaluator.ts';
import type { Ciphertext, Plaintext } from '../he/handles.ts';
import type { KeySet } from '../he/keys.ts';
import { NnError } from './errors.ts';
import type { LinearHeadSpec } from './head.ts';

/**
 * The classic slot-layout head, kept as the benchmark baseline (the published "blind analysis"
 * demos use it): x in slots, one plaintext multiplication per class, a rescale, then InnerSum with
 * log2(d) rotations, so every class costs log2(d) key switches and the client must upload Galois
 * keys for steps d/2 … 1. Returns one ciphertext per class with the logit in slot 0.
 *
 * This baseline reproduces the published algorithm only: it does not mask or re-randomize its
 * outputs, which makes it faster than a safe version would be (the comparison favours it).
 */
export class InnerSumHead {
  readonly context: HeContext;
  readonly period: number;
  readonly #weights: Plaintext[];
  readonly #bias: Plaintext[];

  constructor(context: HeContext, head: LinearHeadSpec) {
    if (context.params.maxLevel < 1)
      throw new NnError('NN_INVALID_ARGUMENT', 'cannot build InnerSum head: needs a preset with depth ≥ 1');
    this.context = context;
    this.period = nextPow2(head.inputDim);
    const top = context.maxLevel;
    const q = Number(context.level(top).primes.at(-1));
    // Encoding weights at the scale of the prime the rescale removes keeps the input scale exact.
    this.#weights = head.weights.map((w) =>
      encodeSlots(context, w, { level: top, scale: q, period: this.period }),
    );
    this.#bias = head.bias.map((b) => encodeSlots(context, [b], { level: top - 1, period: this.period }));
  }

  /** Exactly the Galois steps the client must upload. */
  static galoisSteps(inputDim: number): number[] {
    return innerSumSteps(nextPow2(inputDim));
  }

  evaluate(ev: Evaluator, input: Ciphertext): Ciphertext[] {
    return this.#weights.map((w, k) => {
      using prod = ev.multiplyPlain(input, w);
      using rescaled = ev.rescale(prod);
      using summed = ev.innerSum(rescaled, this.period);
      const b = this.#bias[k];
      if (b.scale !== summed.scale) b._raw.setScale(summed.scale);
      return ev.addPlain(summed, b);
    });
  }

  [Symbol.dispose](): void {
    for (const p of [...this.#weights, ...this.#bias]) p[Symbol.dispose]();
  }
}

/** Client side of the baseline: encrypt x in slots (seeded), decrypt slot 0 of each result. */
export function encryptEmbeddingSlots(keys: KeySet, embedding: ArrayLike<number>): Uint8Array {
  using pt = encodeSlots(keys.context, embedding, { period: nextPow2(embedding.length) });
  return encryptSymmetricSeeded(keys, pt);
}

export function decryptLogitsSlots(keys: KeySet, results: readonly Ciphertext[]): Float64Array {
  return Float64Array.from(
    results.map((ct) => {
      using pt = decrypt(keys, ct);
      return decodeSlots(pt, 1)[0];
    }),
  );
}

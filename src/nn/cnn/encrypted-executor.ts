import type { HeContext } from '../../he/context.ts';
import { Evaluator } from '../../he/evaluator.ts';
import type { Ciphertext } from '../../he/handles.ts';
import type { EvaluationKeys, KeySet } from '../../he/keys.ts';
import type { Layout } from '../../he/layout.ts';
import { NnError } from '../errors.ts';
import { createResponseMask, protectResponse } from './batch-protection.ts';
import { decryptOutput, encryptInput } from './client.ts';
import { type OpCounts, runStages } from './executor.ts';
import { HeBackend } from './he-backend.ts';
import type { ClientPlan, ServerPlan } from './plan.ts';

/** Layout tag of a precomputed mask (a tag only: the response's own layout is applied when it is added). */
const RESPONSE_LAYOUT: Layout = { kind: 'slots', length: 1, period: 1 };

/**
 * The server side of an encrypted CNN: a server plan bound to a context and a client's evaluation
 * keys. Weights are encoded on first use and kept (the encoded plan). Disposable.
 *
 * @example
 * using cnn = new EncryptedCnn(ctx, keys, plan.server);
 * using out = cnn.infer(ct);
 */
export class EncryptedCnn {
  readonly plan: ServerPlan;
  readonly #backend: HeBackend;
  readonly #keys: EvaluationKeys;
  /** Operation counts accumulated over all inferences. */
  readonly counts: OpCounts = { rotations: 0, plainMultiplications: 0, squares: 0, rescales: 0 };

  constructor(ctx: HeContext, keys: EvaluationKeys, plan: ServerPlan) {
    const missing = plan.galoisSteps.filter((s) => !keys.galoisSteps.includes(s));
    if (missing.length > 0) {
      throw new NnError(
        'NN_INVALID_ARGUMENT',
        `cannot run plan "${plan.model}": Galois keys missing for steps ${missing.join(', ')}`,
      );
    }
    if (
      ctx.params.polyModulusDegree !== plan.params.polyModulusDegree ||
      ctx.params.coeffModulusBits.join() !== plan.params.coeffModulusBits.join()
    ) {
      throw new NnError(
        'NN_INVALID_ARGUMENT',
        `cannot run plan "${plan.model}": the context's parameters differ from the plan's`,
      );
    }
    this.plan = plan;
    this.#keys = keys;
    this.#backend = new HeBackend(ctx, new Evaluator(ctx, keys));
  }

  /**
   * A protection mask for one response of this plan (a fresh Enc_pk of the flood at the response's
   * level and scale). Query-independent, so it can be made ahead of time, off the request path;
   * single use: pass it to one {@link infer} call, which consumes it.
   */
  createMask(): Ciphertext {
    const p = this.plan.protection;
    if (p === undefined)
      throw new NnError(
        'NN_INVALID_ARGUMENT',
        `cannot create mask: plan "${this.plan.model}" is not protected`,
      );
    return createResponseMask(this.#keys, p, RESPONSE_LAYOUT);
  }

  /**
   * Runs the plan on one input ciphertext (not consumed); returns the output ciphertext. A protected
   * plan's response is re-randomized and flooded with `opts.mask` (from {@link createMask};
   * consumed, disposed whatever happens) or a mask made here.
   */
  infer(ct: Ciphertext, opts: { readonly mask?: Ciphertext } = {}): Ciphertext {
    const p = this.plan.protection;
    let out: Ciphertext;
    try {
      if (opts.mask !== undefined && p === undefined) {
        throw new NnError(
          'NN_INVALID_ARGUMENT',
          `cannot run plan "${this.plan.model}": a mask for an unprotected plan`,
        );
      }
      const depth = this.plan.stages.filter((s) => s.kind !== 'save' && s.kind !== 'residual').length;
      if (ct.level < depth) {
        throw new NnError(
          'NN_INVALID_ARGUMENT',
          `cannot run plan: input at level ${ct.level}, plan needs ${depth}`,
        );
      }
      out = runStages(this.#backend, this.plan.stages, ct, this.counts);
    } catch (e) {
      opts.mask?.[Symbol.dispose]();
      throw e;
    }
    if (p === undefined) return out;
    try {
      // Re-randomize and flood: a fresh Enc_pk(Gaussian) at the response's level and scale.
      return protectResponse(this.#backend.ev, this.#keys, p, out, opts.mask);
    } finally {
      out[Symbol.dispose]();
    }
  }

  [Symbol.dispose](): void {
    this.#backend[Symbol.dispose]();
  }
}

/** Encrypts, runs and decrypts in one process (tests, evaluation): the logits of one image. */
export function inferLocally(
  ctx: HeContext,
  keys: KeySet,
  client: ClientPlan,
  cnn: EncryptedCnn,
  pixels: ArrayLike<number>,
): Float64Array {
  using ct = encryptInput(ctx, keys, client, pixels);
  using out = cnn.infer(ct);
  return decryptOutput(keys, client, out);
}

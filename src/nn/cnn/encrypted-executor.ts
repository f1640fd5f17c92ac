import type { HeContext } from '../../he/context.ts';
import { Evaluator } from '../../he/evaluator.ts';
import { createFloodMask } from '../../he/flood-mask.ts';
import type { Ciphertext } from '../../he/handles.ts';
import type { EvaluationKeys, KeySet } from '../../he/keys.ts';
import { NnError } from '../errors.ts';
import { decryptOutput, encryptInput } from './client.ts';
import { type OpCounts, runStages } from './executor.ts';
import { HeBackend } from './he-backend.ts';
import type { ClientPlan, ServerPlan } from './plan.ts';

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

  /** Runs the plan on one input ciphertext (not consumed); returns the output ciphertext. */
  infer(ct: Ciphertext): Ciphertext {
    const depth = this.plan.stages.filter((s) => s.kind !== 'save' && s.kind !== 'residual').length;
    if (ct.level < depth) {
      throw new NnError(
        'NN_INVALID_ARGUMENT',
        `cannot run plan: input at level ${ct.level}, plan needs ${depth}`,
      );
    }
    const out = runStages(this.#backend, this.plan.stages, ct, this.counts);
    const p = this.plan.protection;
    if (p === undefined) return out;
    try {
      if (out.level !== p.level || Math.abs(out.scale / 2 ** p.scaleBits - 1) > 1e-9 || out.size !== 2) {
        throw new NnError(
          'NN_INVALID_ARGUMENT',
          `cannot protect response: result at level ${out.level}, scale 2^${Math.log2(out.scale).toFixed(3)}, size ${out.size}; plan says level ${p.level}, 2^${p.scaleBits}, 2`,
        );
      }
      // Re-randomize and flood: a fresh Enc_pk(Gaussian) at the response's level and scale.
      using mask = createFloodMask(this.#keys, {
        level: out.level,
        scale: out.scale,
        layout: out.layout,
        sigma: 2 ** p.floodSigmaBits,
      });
      return this.#backend.ev.add(out, mask);
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

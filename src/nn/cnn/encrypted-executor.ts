import type { HeContext } from '../../he/context.ts';
import { Evaluator } from '../../he/evaluator.ts';
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
    return runStages(this.#backend, this.plan.stages, ct, this.counts);
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

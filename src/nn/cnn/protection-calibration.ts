import type { HeContext } from '../../he/context.ts';
import { decrypt } from '../../he/crypt.ts';
import { decodeSlots } from '../../he/encoder.ts';
import { Evaluator } from '../../he/evaluator.ts';
import type { KeySet } from '../../he/keys.ts';
import { NnError } from '../errors.ts';
import { measuredLambda } from './batch-protection.ts';
import { encryptInput } from './client.ts';
import { runStages } from './executor.ts';
import { HeBackend } from './he-backend.ts';
import type { CnnPlan } from './plan.ts';

/**
 * Calibration of the planner's λ prediction (tests and `protection-calibration.node.ts` only): runs a
 * protected latency plan's stages on one image WITHOUT the re-randomize + flood step and compares
 * every one of the N/2 slots of the extracted output with its float64 value (the logit on output
 * slots, 0 elsewhere). It needs the secret key (it decrypts), so it is no switch a server could turn
 * on: a served response always goes through `EncryptedCnn.infer`, which floods.
 */
export interface PreFloodError {
  /** Largest |slot − float64| over all N/2 slots (logit units): the ε of λ. */
  readonly maxSlotError: number;
  /** Largest error on the output (logit) slots. */
  readonly outputSlotError: number;
  /** Largest |slot| on the other slots (0 in float64). */
  readonly otherSlotMax: number;
  /** λ this ε gives ({@link measuredLambda}). */
  readonly lambda: number;
}

export function _measurePreFloodError(
  ctx: HeContext,
  keys: KeySet,
  plan: CnnPlan,
  pixels: ArrayLike<number>,
  logits: ArrayLike<number>,
  backend?: HeBackend,
): PreFloodError {
  if (backend === undefined) {
    using own = new HeBackend(ctx, new Evaluator(ctx, keys));
    return _measurePreFloodError(ctx, keys, plan, pixels, logits, own);
  }
  const p = plan.server.protection;
  if (p === undefined) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot measure the pre-flood error: plan "${plan.server.model}" is not protected`,
    );
  }
  const positions = plan.client.output.positions;
  if (logits.length !== positions.length) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot measure the pre-flood error: "logits" expected ${positions.length} values, got ${logits.length}`,
    );
  }
  using ct = encryptInput(ctx, keys, plan.client, pixels);
  using out = runStages(backend, plan.server.stages, ct);
  if (out.level !== p.level || Math.abs(out.scale / 2 ** p.scaleBits - 1) > 1e-9) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot measure the pre-flood error: output at level ${out.level}, scale 2^${Math.log2(out.scale)}; the plan announces ${p.level}, 2^${p.scaleBits}`,
    );
  }
  using pt = decrypt(keys, out);
  const slots = decodeSlots(pt, ctx.params.slots);
  const want = new Map<number, number>();
  positions.forEach((pos, k) => {
    want.set(pos, logits[k]);
  });
  let outputSlotError = 0;
  let otherSlotMax = 0;
  slots.forEach((v, j) => {
    const w = want.get(j);
    if (w === undefined) otherSlotMax = Math.max(otherSlotMax, Math.abs(v));
    else outputSlotError = Math.max(outputSlotError, Math.abs(v - w));
  });
  const maxSlotError = Math.max(outputSlotError, otherSlotMax);
  return { maxSlotError, outputSlotError, otherSlotMax, lambda: measuredLambda(p, maxSlotError) };
}

import type { HeContext } from '../../he/context.ts';
import { decrypt, encryptSymmetric, encryptSymmetricSeeded } from '../../he/crypt.ts';
import { decodeSlots, encodeSlots } from '../../he/encoder.ts';
import type { Ciphertext } from '../../he/handles.ts';
import { loadCiphertext } from '../../he/hardened-load.ts';
import type { KeySet } from '../../he/keys.ts';
import { NnError } from '../errors.ts';
import { checkAnnouncedShape } from './batch-protection.ts';
import { packIm2col } from './im2col.ts';
import type { ClientPlan } from './plan.ts';
import { applyPreprocessing } from './reference.ts';

/**
 * Client step 1: preprocess raw pixels (CHW, e.g. 0…255) and lay them out as the plan's input
 * layout asks. Returns one period of slot values.
 */
export function packInput(plan: ClientPlan, pixels: ArrayLike<number>): Float64Array {
  const inp = plan.input;
  const n = inp.kind === 'im2col' ? inp.shape[0] * inp.shape[1] * inp.shape[2] : inp.size;
  if (pixels.length !== n) {
    throw new NnError('NN_SHAPE_MISMATCH', `cannot pack input: ${pixels.length} values, plan expects ${n}`);
  }
  const x = Float64Array.from(pixels);
  const pre = plan.preprocessing;
  if (pre !== undefined) applyPreprocessing(pre, pre.mean.length, x);
  if (inp.kind === 'im2col') return packIm2col(inp, x);
  const out = new Float64Array(inp.period);
  out.set(x);
  return out;
}

/**
 * Client step 2 (local use and tests): pack, encode and encrypt an image into a ciphertext.
 *
 * @example
 * using ct = encryptInput(ctx, keys, plan.client, pixels);
 */
export function encryptInput(
  ctx: HeContext,
  keys: KeySet,
  plan: ClientPlan,
  pixels: ArrayLike<number>,
): Ciphertext {
  using pt = encodeSlots(ctx, packInput(plan, pixels), { period: plan.input.period });
  return encryptSymmetric(keys, pt);
}

/** Client step 2 for the wire: the seeded (half-size) serialized ciphertext of an image. */
export function encryptInputSeeded(
  ctx: HeContext,
  keys: KeySet,
  plan: ClientPlan,
  pixels: ArrayLike<number>,
): Uint8Array {
  using pt = encodeSlots(ctx, packInput(plan, pixels), { period: plan.input.period });
  return encryptSymmetricSeeded(keys, pt);
}

/**
 * Client step 3 from the wire: the response bytes, decrypted to the logits. Hardened loading at
 * exactly the level and scale the plan's protection announces (no seeded responses), then
 * {@link decryptOutput}.
 */
export function decryptResponse(
  ctx: HeContext,
  keys: KeySet,
  plan: ClientPlan,
  bytes: Uint8Array,
): Float64Array {
  const p = plan.protection;
  const period = plan.output.period;
  using ct = loadCiphertext(ctx, bytes, {
    layout: { kind: 'slots', length: period, period },
    ...(p === undefined ? {} : { level: p.level, scale: 2 ** p.scaleBits }),
    allowSeeded: false,
  });
  return decryptOutput(keys, plan, ct);
}

/**
 * Client step 3: decrypt the result and read the outputs (logits) at the plan's positions. A
 * protected plan's response must have exactly the announced level, scale and size.
 */
export function decryptOutput(keys: KeySet, plan: ClientPlan, ct: Ciphertext): Float64Array {
  const p = plan.protection;
  if (p !== undefined) checkAnnouncedShape(p, ct, 'cannot decrypt output: response');
  using pt = decrypt(keys, ct);
  const max = Math.max(...plan.output.positions) + 1;
  const slots = decodeSlots(pt, max);
  return Float64Array.from(plan.output.positions, (p) => slots[p]);
}

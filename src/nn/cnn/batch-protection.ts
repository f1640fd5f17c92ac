import type { Evaluator } from '../../he/evaluator.ts';
import { createFloodMask } from '../../he/flood-mask.ts';
import type { Ciphertext } from '../../he/handles.ts';
import type { EvaluationKeys } from '../../he/keys.ts';
import type { Layout } from '../../he/layout.ts';
import type { ParametersLiteral } from '../../he/params.ts';
import { NnError } from '../errors.ts';
import type { OutputProtection } from './plan.ts';

/**
 * Output protection shared by the latency plan (`planner.ts`) and throughput mode
 * (`batch-executor.ts`): how protected responses are shaped, and the re-randomize + flood step.
 * See README "What a response reveals".
 */

/** Logit standard deviation the flood is sized for (2^−9 ≈ 0.002). */
export const FLOOD_LOGIT_SIGMA_BITS = -9;

/**
 * Margin, in bits, of {@link predictedMaxSlotError} over the largest pre-flood slot error measured on
 * the committed models (README "Calibration of λ").
 */
export const LAMBDA_MARGIN_BITS = 1;

/**
 * Predicted largest pre-flood slot error ε (all N/2 slots, logit units) of a protected program with
 * scale primes of `scaleBits` bits whose outputs land at 2^outputScaleBits on a ring of degree n:
 * 2^LAMBDA_MARGIN_BITS × the larger of
 * - the computation error, 2^(21.8 − s) (fit on the MNIST latency plan: 2^−6.2 at s = 28, 2^−31.2
 *   at s = 53 on the output slots), and
 * - the rounding floor of the last rescale, n·2^−outputScaleBits: every slot, output or not, carries
 *   it (measured 2^−33.0…2^−32.5 on the non-output slots at n = 16384, output scale 2^47).
 * The floor is what bounds λ at 60-bit scales (throughput mode), where the computation error alone
 * would predict λ = 22 while 17 is measured.
 */
export function predictedMaxSlotError(scalePrimeBits: number, outputScaleBits: number, n: number): number {
  return 2 ** LAMBDA_MARGIN_BITS * Math.max(2 ** (21.8 - scalePrimeBits), n * 2 ** -outputScaleBits);
}

/**
 * The protection of a program whose parameters came from `chooseCnnParameters({ protect: true })`
 * (chain [60, s×depth, 60]) and which uses `depth` levels including the one that lands the outputs
 * at the output scale: responses at level `bits.length − 2 − depth`, scale 2^(bits[0] − I − 3) (the
 * 60-bit output prime holds the scale, I integer bits and the flood with a factor 4 to spare),
 * flood σ sized for 2^−9 per slot. `lambda` is a conservative prediction from
 * {@link predictedMaxSlotError}; measure it with {@link measuredLambda}.
 */
export function outputProtection(
  literal: ParametersLiteral,
  depth: number,
  integerBits = 10,
): OutputProtection {
  const bits = literal.coeffModulusBits;
  const n = literal.polyModulusDegree;
  const scaleBits = bits[0] - integerBits - 3;
  const floodSigmaBits = Math.floor(scaleBits + FLOOD_LOGIT_SIGMA_BITS - Math.log2(Math.sqrt(n / 2)));
  const eps = predictedMaxSlotError(literal.scaleBits ?? bits[1], scaleBits, n);
  const lambda = Math.floor(floodSigmaBits + 0.5 - Math.log2(eps) - scaleBits);
  const level = bits.length - 2 - depth;
  if (level < 0) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot protect outputs: depth ${depth} exceeds the ${bits.length - 2} levels of the chain`,
    );
  }
  return { level, scaleBits, floodSigmaBits, lambda };
}

/**
 * λ from a measured largest pre-flood slot error ε (all N/2 slots, logit units): Pinsker bounds the
 * statistical distance by ‖e‖₂/(2σ) with ‖e‖₂ ≤ √2·ε·2^scaleBits, so λ = log2(2σ / (√2·ε·2^scaleBits)).
 */
export function measuredLambda(p: OutputProtection, maxSlotError: number): number {
  if (!(maxSlotError > 0)) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot measure lambda: "maxSlotError" expected a positive number, got ${maxSlotError}`,
    );
  }
  return p.floodSigmaBits + 0.5 - p.scaleBits - Math.log2(maxSlotError);
}

/**
 * A protection mask for one response: a fresh public-key encryption of a rounded Gaussian of width
 * 2^floodSigmaBits at the response's level and scale. It depends on the plan and the client's
 * public key only, never on the query, so a server can make masks ahead of time, off the request
 * path. Each mask must be used exactly once ({@link protectResponse} disposes it).
 */
export function createResponseMask(keys: EvaluationKeys, p: OutputProtection, layout: Layout): Ciphertext {
  return createFloodMask(keys, {
    level: p.level,
    scale: 2 ** p.scaleBits,
    layout,
    sigma: 2 ** p.floodSigmaBits,
  });
}

/**
 * Throws unless `ct` has exactly the level, scale 2^scaleBits and size 2 that `p` announces (every
 * protected response has one shape). `what` starts the message, e.g. "cannot decrypt output: response".
 */
export function checkAnnouncedShape(
  p: OutputProtection,
  ct: Ciphertext,
  what: string,
  says = 'the plan announces',
): void {
  if (ct.level === p.level && ct.size === 2 && Math.abs(ct.scale / 2 ** p.scaleBits - 1) <= 1e-9) return;
  throw new NnError(
    'NN_INVALID_ARGUMENT',
    `${what} at level ${ct.level}, scale 2^${Math.log2(ct.scale).toFixed(3)}, size ${ct.size}; ${says} level ${p.level}, 2^${p.scaleBits}, 2`,
  );
}

/**
 * Re-randomizes and floods one response: checks it has exactly the announced level, scale and size
 * (so every response has one shape), then adds a protection mask — the one given (consumed: disposed
 * here, whatever happens) or a fresh one. `out` is not consumed.
 */
export function protectResponse(
  ev: Evaluator,
  keys: EvaluationKeys,
  p: OutputProtection,
  out: Ciphertext,
  mask?: Ciphertext,
): Ciphertext {
  try {
    checkAnnouncedShape(p, out, 'cannot protect response: result', 'plan says');
    if (mask === undefined) {
      using fresh = createResponseMask(keys, p, out.layout);
      return ev.add(out, fresh);
    }
    if (mask.disposed) {
      throw new NnError(
        'NN_INVALID_ARGUMENT',
        'cannot protect response: the mask was already used (masks are single-use)',
      );
    }
    checkAnnouncedShape(p, mask, 'cannot protect response: mask', 'plan says');
    // The layout is a tag only: a precomputed mask is made before the response's layout is known.
    using tagged = mask.withLayout(out.layout);
    return ev.add(out, tagged);
  } finally {
    mask?.[Symbol.dispose]();
  }
}

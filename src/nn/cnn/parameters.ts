import {
  createParameters,
  type Parameters,
  type ParametersLiteral,
  TC128_MAX_BITS,
} from '../../he/params.ts';
import { choosePreset } from '../../he/presets.ts';
import { NnError } from '../errors.ts';

/** What a CKKS network needs from its parameters. */
export interface CnnParameterRequest {
  /** Rescales along the program. */
  readonly depth: number;
  /** Largest slot period used. */
  readonly slots: number;
  /** Least acceptable scale, in bits (default 26, TenSEAL's MNIST setting). */
  readonly minScaleBits?: number;
  /** Bits for the integer part of the outputs (default 10: |logit| < 512). */
  readonly integerBits?: number;
  /**
   * Output protection (extract + re-randomize + flood): `depth` counts the extraction level, and
   * the chain becomes [60, s×depth, 60] with the largest s ≤ 60 that fits — a 60-bit output prime
   * holds the output scale, the integer part and the flood, and precision is what buys λ.
   */
  readonly protect?: boolean;
}

/**
 * Picks the smallest ring degree that fits: a reviewed preset ({@link choosePreset}) when one of
 * that degree fits, else a literal `[s+I, s×depth, s+I]` with the largest scale s the 128-bit bound
 * allows, validated by {@link createParameters}. Deep networks on small rings are why the literal
 * exists: depth 5 at N=8192 fits with 28-bit primes, while the presets jump to N=16384.
 */
export function chooseCnnParameters(req: CnnParameterRequest): {
  preset?: string;
  params: Parameters;
  literal: ParametersLiteral;
} {
  const minScale = req.minScaleBits ?? 26;
  const I = req.integerBits ?? 10;
  if (req.protect === true) return protectedParameters(req, minScale);
  let preset: { name: string; params: Parameters } | undefined;
  try {
    preset = choosePreset({ depth: req.depth, scaleBits: minScale, integerBits: I, slots: req.slots });
  } catch {
    preset = undefined;
  }
  for (const n of [4096, 8192, 16384, 32768]) {
    if (n / 2 < req.slots) continue;
    if (preset !== undefined && preset.params.polyModulusDegree <= n) break;
    const max = TC128_MAX_BITS[n];
    const s = Math.min(40, Math.floor((max - 2 * I) / (req.depth + 2)));
    if (s < minScale) continue;
    const edge = Math.min(60, s + I);
    const literal: ParametersLiteral = {
      scheme: 'ckks',
      polyModulusDegree: n,
      coeffModulusBits: [edge, ...Array<number>(req.depth).fill(s), edge],
      scaleBits: s,
    };
    return { params: createParameters(literal), literal };
  }
  if (preset === undefined) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot choose parameters: no 128-bit CKKS set offers depth ${req.depth} with ${req.slots} slots at scale ≥ 2^${minScale}`,
    );
  }
  const p = preset.params;
  return {
    preset: preset.name,
    params: p,
    literal: {
      scheme: 'ckks',
      polyModulusDegree: p.polyModulusDegree,
      coeffModulusBits: [...p.coeffModulusBits],
      scaleBits: p.scaleBits,
    },
  };
}

function protectedParameters(
  req: CnnParameterRequest,
  minScale: number,
): { params: Parameters; literal: ParametersLiteral } {
  for (const n of [4096, 8192, 16384, 32768]) {
    if (n / 2 < req.slots) continue;
    const s = Math.min(60, Math.floor((TC128_MAX_BITS[n] - 120) / req.depth));
    if (s < minScale) continue;
    const literal: ParametersLiteral = {
      scheme: 'ckks',
      polyModulusDegree: n,
      coeffModulusBits: [60, ...Array<number>(req.depth).fill(s), 60],
      scaleBits: s,
    };
    return { params: createParameters(literal), literal };
  }
  throw new NnError(
    'NN_INVALID_ARGUMENT',
    `cannot choose parameters: no 128-bit CKKS set offers depth ${req.depth} (with output protection) and ${req.slots} slots at scale ≥ 2^${minScale}`,
  );
}

import { HeError } from './errors.ts';
import { createParameters, type Parameters } from './params.ts';

/**
 * Named, reviewed parameter sets. Every preset is 128-bit secure (checked by {@link createParameters}
 * and again by SEAL with `tc128` when a context is created).
 *
 * Naming: `<scheme>-<N>-d<depth>` where depth is the number of rescales a fresh ciphertext allows.
 * `ckks-8192-coeff` is the rotation-free coefficient-encoding head: no rescale, two wide data primes
 * so the product scale Δx·Δw and a 2^40 noise flood both fit (see docs/he.md).
 */
export const PRESETS: Readonly<Record<string, Parameters>> = Object.freeze({
  'ckks-4096-d1': createParameters({
    scheme: 'ckks',
    polyModulusDegree: 4096,
    coeffModulusBits: [38, 32, 38],
    scaleBits: 32,
  }),
  'ckks-8192-d2': createParameters({
    scheme: 'ckks',
    polyModulusDegree: 8192,
    coeffModulusBits: [60, 40, 40, 60],
    scaleBits: 40,
  }),
  'ckks-8192-d3': createParameters({
    scheme: 'ckks',
    polyModulusDegree: 8192,
    coeffModulusBits: [49, 40, 40, 40, 49],
    scaleBits: 40,
  }),
  'ckks-8192-coeff': createParameters({
    scheme: 'ckks',
    polyModulusDegree: 8192,
    coeffModulusBits: [60, 60, 60],
  }),
  'ckks-16384-d7': createParameters({
    scheme: 'ckks',
    polyModulusDegree: 16384,
    coeffModulusBits: [60, 40, 40, 40, 40, 40, 40, 40, 60],
    scaleBits: 40,
  }),
  'ckks-32768-d16': createParameters({
    scheme: 'ckks',
    polyModulusDegree: 32768,
    coeffModulusBits: [60, ...Array(16).fill(40), 60],
    scaleBits: 40,
  }),
  'bfv-4096': createParameters({
    scheme: 'bfv',
    polyModulusDegree: 4096,
    coeffModulusBits: [36, 36, 37],
    plainModulusBits: 20,
  }),
  'bfv-8192': createParameters({
    scheme: 'bfv',
    polyModulusDegree: 8192,
    coeffModulusBits: [43, 43, 44, 44, 44],
    plainModulusBits: 20,
  }),
});

/** Name of a {@link PRESETS} entry. */
export type PresetName = keyof typeof PRESETS & string;

/** Returns the named preset or throws `HE_UNKNOWN_PRESET` listing the known names. */
export function getPreset(name: string): Parameters {
  const p = Object.hasOwn(PRESETS, name) ? PRESETS[name] : undefined;
  if (p === undefined) {
    throw new HeError(
      'HE_UNKNOWN_PRESET',
      `cannot use preset "${name}": unknown (known: ${Object.keys(PRESETS).join(', ')})`,
    );
  }
  return p;
}

/** Finds the preset whose fingerprint is `fingerprint`, or undefined. */
export function presetByFingerprint(fingerprint: string): { name: string; params: Parameters } | undefined {
  for (const [name, params] of Object.entries(PRESETS))
    if (params.fingerprint === fingerprint) return { name, params };
  return undefined;
}

/** What a computation needs from CKKS parameters. */
export interface CkksRequirements {
  /** Number of rescales (multiplicative depth). */
  readonly depth: number;
  /** Bits of fractional precision: the scale must be at least 2^scaleBits. */
  readonly scaleBits: number;
  /** Bits for the integer part of the largest intermediate value (default 10). */
  readonly integerBits?: number;
  /** Minimum number of slots (default: any). */
  readonly slots?: number;
}

/**
 * Picks the smallest (by ring degree, then total bits) CKKS preset with a rescaling chain that meets
 * the requirements. Throws `HE_NO_PRESET_FITS` if none does.
 *
 * @example
 * choosePreset({ depth: 2, scaleBits: 40 }).name; // 'ckks-8192-d2'
 */
export function choosePreset(req: CkksRequirements): { name: string; params: Parameters } {
  const integerBits = req.integerBits ?? 10;
  if (!Number.isInteger(req.depth) || req.depth < 0) {
    throw new HeError(
      'HE_INVALID_ARGUMENT',
      `cannot choose preset: "depth" expected a non-negative integer, got ${req.depth}`,
    );
  }
  const candidates = Object.entries(PRESETS)
    .filter(([, p]) => p.scheme === 'ckks' && p.scaleBits !== undefined)
    .filter(([, p]) => p.maxLevel >= req.depth)
    .filter(([, p]) => p.scaleBits! >= req.scaleBits)
    .filter(([, p]) => p.coeffModulusBits[0] >= p.scaleBits! + integerBits)
    .filter(([, p]) => req.slots === undefined || p.slots >= req.slots)
    .sort(([, a], [, b]) => a.polyModulusDegree - b.polyModulusDegree || a.totalBits - b.totalBits);
  const best = candidates[0];
  if (best === undefined) {
    throw new HeError(
      'HE_NO_PRESET_FITS',
      `cannot choose preset: none offers depth ${req.depth} at scale 2^${req.scaleBits} with ${integerBits} integer bits`,
    );
  }
  return { name: best[0], params: best[1] };
}

import { _hex, _sha256 } from './_sha256.ts';
import { HeError } from './errors.ts';

/** Schemes BlindDx uses. CKKS for approximate real arithmetic, BFV for exact integers. */
export type Scheme = 'ckks' | 'bfv';

/**
 * Unchecked input describing encryption parameters. Turn it into {@link Parameters} with
 * {@link createParameters}, which validates it; nothing else accepts a literal.
 */
export interface ParametersLiteral {
  readonly scheme: Scheme;
  /** Ring degree N (power of two, 4096…32768). CKKS has N/2 slots. */
  readonly polyModulusDegree: number;
  /**
   * Bit sizes of the RNS primes, first (largest, holds the integer part of results) to last
   * (SEAL's special prime, used only for key switching).
   */
  readonly coeffModulusBits: readonly number[];
  /** CKKS: the default scale is 2^scaleBits. */
  readonly scaleBits?: number;
  /** BFV: bit size of the batching-friendly plaintext modulus t. */
  readonly plainModulusBits?: number;
}

/**
 * Validated, immutable encryption parameters with a stable fingerprint. Two parameter sets with the
 * same fingerprint create interchangeable SEAL contexts (SEAL derives the primes deterministically
 * from the bit sizes).
 */
export interface Parameters extends ParametersLiteral {
  readonly coeffModulusBits: readonly number[];
  /** Hex SHA-256 of the canonical description. Used in envelopes and bundle manifests. */
  readonly fingerprint: string;
  /** Sum of all prime bit sizes (what the 128-bit table bounds). */
  readonly totalBits: number;
  /**
   * Rescales available to fresh ciphertexts: (number of primes) − 2. A fresh ciphertext is at this
   * level; each rescale lowers it by one; level 0 can still be decrypted.
   */
  readonly maxLevel: number;
  /** CKKS slot count N/2 (BFV: N). */
  readonly slots: number;
}

/**
 * Largest total coefficient-modulus bit count for 128-bit classical security with a ternary
 * secret, per ring degree: the HomomorphicEncryption.org standard table, as enforced by SEAL's
 * `sec_level_type::tc128` (CoeffModulus::MaxBitCount).
 */
export const TC128_MAX_BITS: Readonly<Record<number, number>> = Object.freeze({
  4096: 109,
  8192: 218,
  16384: 438,
  32768: 881,
});

function fail(message: string): never {
  throw new HeError('HE_INVALID_ARGUMENT', `cannot create parameters: ${message}`);
}

/**
 * Validates a literal into frozen {@link Parameters}. Refuses anything below 128-bit security.
 *
 * @example
 * const p = createParameters({ scheme: 'ckks', polyModulusDegree: 8192, coeffModulusBits: [60, 40, 40, 60], scaleBits: 40 });
 * p.maxLevel; // 2
 */
export function createParameters(literal: ParametersLiteral): Parameters {
  if (literal === null || typeof literal !== 'object') fail('"literal" expected an object');
  const { scheme, polyModulusDegree: n, coeffModulusBits } = literal;
  if (scheme !== 'ckks' && scheme !== 'bfv') fail(`"scheme" expected 'ckks' or 'bfv', got ${String(scheme)}`);
  if (!Number.isInteger(n) || !(n in TC128_MAX_BITS)) {
    fail(`"polyModulusDegree" expected one of ${Object.keys(TC128_MAX_BITS).join(', ')}, got ${String(n)}`);
  }
  if (!Array.isArray(coeffModulusBits) || coeffModulusBits.length < 2) {
    fail('"coeffModulusBits" expected at least two primes (data + special)');
  }
  const minBits = Math.log2(2 * n) + 2; // an NTT-friendly prime must be ≡ 1 mod 2N
  for (const b of coeffModulusBits) {
    if (!Number.isInteger(b) || b < minBits || b > 60) {
      fail(`"coeffModulusBits" entries must be integers in [${minBits}, 60] for N=${n}, got ${String(b)}`);
    }
  }
  const totalBits = coeffModulusBits.reduce((a, b) => a + b, 0);
  const max = TC128_MAX_BITS[n];
  if (totalBits > max) {
    throw new HeError(
      'HE_INSECURE_PARAMETERS',
      `cannot create parameters: ${totalBits} coefficient-modulus bits at N=${n} is below 128-bit security (max ${max}, HomomorphicEncryption.org tc128)`,
    );
  }
  let scaleBits: number | undefined;
  let plainModulusBits: number | undefined;
  if (scheme === 'ckks') {
    if (literal.plainModulusBits !== undefined) fail('"plainModulusBits" is for BFV only');
    scaleBits = literal.scaleBits;
    if (scaleBits !== undefined && (!Number.isInteger(scaleBits) || scaleBits < 10 || scaleBits > 60)) {
      fail(`"scaleBits" expected an integer in [10, 60], got ${String(scaleBits)}`);
    }
  } else {
    if (literal.scaleBits !== undefined) fail('"scaleBits" is for CKKS only');
    plainModulusBits = literal.plainModulusBits;
    if (!Number.isInteger(plainModulusBits) || plainModulusBits! < 14 || plainModulusBits! > 60) {
      fail(`"plainModulusBits" expected an integer in [14, 60] for BFV, got ${String(plainModulusBits)}`);
    }
  }
  const canonical = JSON.stringify({
    v: 1,
    scheme,
    n,
    q: [...coeffModulusBits],
    ...(scaleBits !== undefined ? { scaleBits } : {}),
    ...(plainModulusBits !== undefined ? { t: plainModulusBits } : {}),
  });
  return Object.freeze({
    scheme,
    polyModulusDegree: n,
    coeffModulusBits: Object.freeze([...coeffModulusBits]),
    ...(scaleBits !== undefined ? { scaleBits } : {}),
    ...(plainModulusBits !== undefined ? { plainModulusBits } : {}),
    fingerprint: _hex(_sha256(new TextEncoder().encode(canonical))),
    totalBits,
    maxLevel: coeffModulusBits.length - 2,
    slots: scheme === 'ckks' ? n / 2 : n,
  });
}

/** The literal form of validated parameters (for JSON manifests); round-trips through {@link createParameters}. */
export function parametersToLiteral(p: Parameters): ParametersLiteral {
  return {
    scheme: p.scheme,
    polyModulusDegree: p.polyModulusDegree,
    coeffModulusBits: [...p.coeffModulusBits],
    ...(p.scaleBits !== undefined ? { scaleBits: p.scaleBits } : {}),
    ...(p.plainModulusBits !== undefined ? { plainModulusBits: p.plainModulusBits } : {}),
  };
}

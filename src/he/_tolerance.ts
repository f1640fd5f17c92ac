// Error model shared by the he tests (and usable by callers who want to state a bound).
//
// A CKKS slot value carries an absolute error of roughly (noise in the coefficients) × (growth of
// the canonical embedding) / Δ. Fresh symmetric encryption has Gaussian noise σ ≈ 3.2 and the
// encoder rounds each coefficient (≤ 0.5); the embedding grows a coefficient error by at most N
// (by √N·few in practice). So N/Δ bounds a fresh slot error with a large margin, and every
// operation is stated as a multiple of that unit:
//
//   fresh / add / plain ops      ≤ 8·N/Δ    (encode + encrypt noise, a few additions)
//   multiply + rescale            ≤ 64·N/Δ   (rescaling adds rounding noise ≈ √N·‖s‖ per prime)
//   rotations (key switching)     ≤ 1024·N/Δ (key-switch noise ≈ N·σ·q_i/P; at N=4096 the special
//                                            prime P is only 38 bits, so this term dominates)
//
// Measured errors sit about 10–200× below these bounds (see the tests); the margin keeps the tests
// deterministic across random keys.

/** Tolerance classes, in units of N/Δ. */
export const _ERROR_UNITS = Object.freeze({ fresh: 8, multiply: 64, rotate: 1024 });

/** Absolute tolerance for values of magnitude ≤ `magnitude` after an operation of class `kind`. */
export function _ckksTolerance(
  n: number,
  scale: number,
  kind: keyof typeof _ERROR_UNITS,
  magnitude = 1,
): number {
  return (_ERROR_UNITS[kind] * n * Math.max(1, magnitude)) / scale;
}

/** Largest |a[i] − b[i]| over the shorter of the two arrays. */
export function _maxAbsError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** A deterministic uniform generator on [0, 1) (mulberry32), so seeded tests reproduce. */
export function _seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic values in [−magnitude, magnitude] ({@link _seededRandom}), so failures reproduce. */
export function _seededValues(seed: number, length: number, magnitude = 1): number[] {
  const rand = _seededRandom(seed);
  return Array.from({ length }, () => (rand() * 2 - 1) * magnitude);
}

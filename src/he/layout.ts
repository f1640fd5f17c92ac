/**
 * How values sit inside a ciphertext. Operations refuse to combine different layouts.
 *
 * - `slots`: CKKS slot encoding. `length` values repeated with period `period` (a power of two)
 *   across all N/2 slots, so a rotation by r acts as a cyclic rotation of each period:
 *   ```
 *   slots: [x0 x1 … x(len-1) 0 … 0 | x0 x1 … | …]   (period p, N/2 / p copies)
 *   ```
 * - `coeffs`: CKKS coefficient encoding, value i in coefficient `offset + i·stride` of the
 *   plaintext polynomial (no rotations needed for inner products).
 */
export type Layout =
  | { readonly kind: 'slots'; readonly length: number; readonly period: number }
  | { readonly kind: 'coeffs'; readonly length: number; readonly positions?: readonly number[] };

/** Compact description for error messages. */
export function describeLayout(l: Layout): string {
  return l.kind === 'slots' ? `slots(len ${l.length}, period ${l.period})` : `coeffs(len ${l.length})`;
}

/** Structural equality of two layouts. */
export function sameLayout(a: Layout, b: Layout): boolean {
  if (a.kind !== b.kind || a.length !== b.length) return false;
  if (a.kind === 'slots' && b.kind === 'slots') return a.period === b.period;
  const pa = (a as { positions?: readonly number[] }).positions;
  const pb = (b as { positions?: readonly number[] }).positions;
  if (pa === undefined || pb === undefined) return pa === pb;
  return pa.length === pb.length && pa.every((p, i) => p === pb[i]);
}

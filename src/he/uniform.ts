import { HeError } from './errors.ts';

/**
 * `count` independent uniforms in [0, 1) from a CSPRNG (`crypto.getRandomValues`, so it runs in a
 * browser too), each k / 2^53 with k uniform over 53 bits: 27 high bits of one 32-bit word, 26 of
 * the next. Every value is exact (no rounding), so `1 − u` lies in (0, 1] and `2u − 1` in [−1, 1).
 *
 * @example
 * const [u] = uniforms53(1); // 0 ≤ u < 1
 */
export function uniforms53(count: number): Float64Array {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new HeError(
      'HE_INVALID_ARGUMENT',
      `cannot draw uniforms: "count" expected a non-negative integer, got ${count}`,
    );
  }
  const words = new Uint32Array(2 * count);
  // getRandomValues fills at most 65,536 bytes per call.
  for (let off = 0; off < words.length; off += 16384)
    crypto.getRandomValues(words.subarray(off, Math.min(words.length, off + 16384)));
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++)
    out[i] = ((words[2 * i] >>> 5) * 67108864 + (words[2 * i + 1] >>> 6)) / 2 ** 53;
  return out;
}

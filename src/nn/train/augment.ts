import type { Rng } from './rng.ts';

/** Random augmentation applied per training sample: integer shifts (edge-replicated) and a mirror. */
export interface AugmentOptions {
  /** Maximum shift in pixels along each axis (0 = none). */
  maxShift: number;
  /** Mirror left–right with probability 1/2. */
  flip: boolean;
}

/**
 * Writes an augmented copy of sample `src[srcOff…]` (`[C, H, W]`) into `dst[dstOff…]`.
 * Edge replication (rather than zeros) keeps the border statistics of X-ray/ultrasound frames.
 */
export function augmentInto(
  src: Float32Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  shape: readonly number[],
  opts: AugmentOptions,
  rng: Rng,
): void {
  const [c, h, w] = shape;
  const s = opts.maxShift;
  const dy = s > 0 ? rng.int(2 * s + 1) - s : 0;
  const dx = s > 0 ? rng.int(2 * s + 1) - s : 0;
  const flip = opts.flip && rng.next() < 0.5;
  for (let ch = 0; ch < c; ch++) {
    const sBase = srcOff + ch * h * w;
    const dBase = dstOff + ch * h * w;
    for (let y = 0; y < h; y++) {
      let sy = y - dy;
      sy = sy < 0 ? 0 : sy >= h ? h - 1 : sy;
      for (let x = 0; x < w; x++) {
        let sx = (flip ? w - 1 - x : x) - dx;
        sx = sx < 0 ? 0 : sx >= w ? w - 1 : sx;
        dst[dBase + y * w + x] = src[sBase + sy * w + sx];
      }
    }
  }
}

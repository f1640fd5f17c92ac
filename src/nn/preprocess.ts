import { NnError } from './errors.ts';

/**
 * How a decoded image becomes the backbone input: resize (area averaging) to `width × height`,
 * convert to `channels` (1 = grayscale by ITU-R BT.601 luma), scale to [0, 1], then
 * `(v − mean[c]) / std[c]`. The output layout is `[channels, height, width]` (NCHW without N).
 * Training uses exactly {@link normalizePixel}, so client-side preprocessing matches it bit for bit.
 */
export interface PreprocessSpec {
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly resize: 'area';
}

/** A decoded image: interleaved 8-bit samples, 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA) per pixel. */
export interface DecodedImage {
  readonly data: Uint8Array | Uint8ClampedArray;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 2 | 3 | 4;
}

/** The one place where a [0, 255] sample becomes a network input value. */
export function normalizePixel(v: number, mean: number, std: number): number {
  return (v / 255 - mean) / std;
}

/** Checks a spec (e.g. parsed from `model.json`) and throws `NN_PREPROCESS_INVALID` naming the field. */
export function validatePreprocessSpec(spec: unknown): PreprocessSpec {
  const s = spec as Partial<PreprocessSpec> | null;
  const bad = (f: string) => new NnError('NN_PREPROCESS_INVALID', `validatePreprocessSpec: invalid ${f}`);
  if (typeof s !== 'object' || s === null) throw bad('spec (not an object)');
  for (const f of ['width', 'height'] as const) {
    if (!Number.isInteger(s[f]) || (s[f] as number) < 1 || (s[f] as number) > 4096) throw bad(f);
  }
  if (s.channels !== 1 && s.channels !== 3) throw bad('channels');
  for (const f of ['mean', 'std'] as const) {
    const a = s[f];
    if (!Array.isArray(a) || a.length !== s.channels || !a.every((v) => Number.isFinite(v))) throw bad(f);
  }
  if (!s.std!.every((v) => v > 0)) throw bad('std (must be > 0)');
  if (s.resize !== 'area') throw bad('resize');
  return s as PreprocessSpec;
}

/** Area-averaging resize of one plane (float64), exact identity when sizes match. */
function resizeArea(src: Float64Array, sw: number, sh: number, dw: number, dh: number): Float64Array {
  if (sw === dw && sh === dh) return src;
  const tmp = new Float64Array(dw * sh);
  const sx = sw / dw;
  for (let ox = 0; ox < dw; ox++) {
    const lo = ox * sx;
    const hi = lo + sx;
    for (let x = Math.floor(lo); x < Math.min(sw, Math.ceil(hi)); x++) {
      const wgt = (Math.min(hi, x + 1) - Math.max(lo, x)) / sx;
      if (wgt <= 0) continue;
      for (let y = 0; y < sh; y++) tmp[y * dw + ox] += wgt * src[y * sw + x];
    }
  }
  const out = new Float64Array(dw * dh);
  const sy = sh / dh;
  for (let oy = 0; oy < dh; oy++) {
    const lo = oy * sy;
    const hi = lo + sy;
    for (let y = Math.floor(lo); y < Math.min(sh, Math.ceil(hi)); y++) {
      const wgt = (Math.min(hi, y + 1) - Math.max(lo, y)) / sy;
      if (wgt <= 0) continue;
      for (let x = 0; x < dw; x++) out[oy * dw + x] += wgt * tmp[y * dw + x];
    }
  }
  return out;
}

/**
 * Turns decoded pixels of any size into the backbone input `[channels, height, width]`.
 *
 * @example
 * ```ts
 * const input = preprocessImage(spec, { data: rgba, width: 512, height: 512, channels: 4 }); // Float32Array(784)
 * ```
 */
export function preprocessImage(spec: PreprocessSpec, img: DecodedImage): Float32Array {
  const { width: sw, height: sh, channels: sc, data } = img;
  if (!Number.isInteger(sw) || !Number.isInteger(sh) || sw < 1 || sh < 1 || ![1, 2, 3, 4].includes(sc)) {
    throw new NnError('NN_PREPROCESS_INVALID', `preprocessImage: bad image geometry ${sw}×${sh}×${sc}`);
  }
  if (data.length !== sw * sh * sc) {
    throw new NnError(
      'NN_PREPROCESS_INVALID',
      `preprocessImage: data length ${data.length} != ${sw}×${sh}×${sc}`,
    );
  }
  const color = sc >= 3;
  const planes: Float64Array[] = [];
  for (let c = 0; c < spec.channels; c++) {
    const p = new Float64Array(sw * sh);
    for (let i = 0; i < sw * sh; i++) {
      const o = i * sc;
      if (spec.channels === 1) {
        // Alpha (channel 2 or 4) is ignored: medical images are opaque.
        p[i] = color ? 0.299 * data[o] + 0.587 * data[o + 1] + 0.114 * data[o + 2] : data[o];
      } else {
        p[i] = color ? data[o + c] : data[o];
      }
    }
    planes.push(resizeArea(p, sw, sh, spec.width, spec.height));
  }
  const hw = spec.width * spec.height;
  const out = new Float32Array(spec.channels * hw);
  for (let c = 0; c < spec.channels; c++) {
    for (let i = 0; i < hw; i++) out[c * hw + i] = normalizePixel(planes[c][i], spec.mean[c], spec.std[c]);
  }
  return out;
}

import type { HeContext } from '../../he/context.ts';
import type { Ciphertext } from '../../he/handles.ts';
import type { KeySet } from '../../he/keys.ts';
import { NnError } from '../errors.ts';
import { type EncryptedCnn, inferLocally } from './encrypted-executor.ts';
import type { CnnModel } from './ir.ts';
import type { ClientPlan } from './plan.ts';
import { preprocessImage, referenceForward } from './reference.ts';
import { windowPackedLayout } from './window-packed.ts';
import { decryptWindowOutputs, encryptWindowInputs, type WindowPackedServer } from './window-packed-he.ts';

/**
 * Tiled (patch) flow for images larger than a model's input:
 *
 * ```
 * image C×H×W ──centre crop──► rows·ph × cols·pw ──cut──► rows·cols patches C×ph×pw (row-major)
 *   each patch → the CNN (encrypted: streamed one ciphertext per patch on the latency plan, or
 *   packed: all patches' conv windows side by side, window-packed.ts) → per-patch logits,
 *   decrypted on the client → aggregate per class (max by default, mean available)
 * ```
 *
 * Browser-capable: no Node built-ins. Pixels are raw (e.g. 0…255) in CHW order, as the model's
 * preprocessing expects.
 */
export interface PlanarImage {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  /** CHW order, `channels·height·width` values. */
  readonly data: ArrayLike<number>;
}

/** Where the patches come from: `rows × cols` patches of `patchHeight × patchWidth` at an offset. */
export interface TileGrid {
  readonly rows: number;
  readonly cols: number;
  readonly patchHeight: number;
  readonly patchWidth: number;
  readonly offsetY: number;
  readonly offsetX: number;
}

/** How per-patch logits become one result. */
export type TileAggregation = 'max' | 'mean';

/** Per-patch logits and their aggregate. */
export interface TileResult {
  readonly perPatch: Float64Array[];
  readonly aggregate: Float64Array;
}

const _positiveInt = (v: number) => Number.isSafeInteger(v) && v > 0;

/** Parses `"3x3"` (rows×cols). */
export function parseGridSpec(spec: string): { rows: number; cols: number } {
  const m = /^(\d+)[x×](\d+)$/.exec(spec.trim());
  if (!m || !_positiveInt(Number(m[1])) || !_positiveInt(Number(m[2]))) {
    throw new NnError('NN_INVALID_ARGUMENT', `cannot parse grid: "${spec}" is not ROWSxCOLS (e.g. 3x3)`);
  }
  return { rows: Number(m[1]), cols: Number(m[2]) };
}

/**
 * The grid for an image: `rows × cols` patches of the model's input size, centred (the border
 * that does not fill a whole patch is cropped). Without `grid`, as many patches as fit.
 */
export function planTileGrid(
  image: { readonly height: number; readonly width: number },
  patch: { readonly height: number; readonly width: number },
  grid?: { readonly rows: number; readonly cols: number },
): TileGrid {
  for (const [name, v] of [
    ['image.height', image.height],
    ['image.width', image.width],
    ['patch.height', patch.height],
    ['patch.width', patch.width],
  ] as const) {
    if (!_positiveInt(v)) throw new NnError('NN_INVALID_ARGUMENT', `cannot plan tiles: ${name} = ${v}`);
  }
  const rows = grid?.rows ?? Math.floor(image.height / patch.height);
  const cols = grid?.cols ?? Math.floor(image.width / patch.width);
  if (!_positiveInt(rows) || !_positiveInt(cols)) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot plan tiles: a ${image.height}×${image.width} image holds no ${patch.height}×${patch.width} patch`,
    );
  }
  if (rows * patch.height > image.height || cols * patch.width > image.width) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot plan tiles: ${rows}×${cols} patches of ${patch.height}×${patch.width} exceed the ${image.height}×${image.width} image`,
    );
  }
  return {
    rows,
    cols,
    patchHeight: patch.height,
    patchWidth: patch.width,
    offsetY: Math.floor((image.height - rows * patch.height) / 2),
    offsetX: Math.floor((image.width - cols * patch.width) / 2),
  };
}

/** Cuts the grid's patches out of a CHW image, row-major; each patch is CHW. */
export function cutTiles(image: PlanarImage, grid: TileGrid): Float64Array[] {
  const { channels: C, height: H, width: W, data } = image;
  if (data.length !== C * H * W) {
    throw new NnError('NN_SHAPE_MISMATCH', `cannot cut tiles: ${data.length} values for ${C}×${H}×${W}`);
  }
  const { rows, cols, patchHeight: ph, patchWidth: pw, offsetY, offsetX } = grid;
  if (offsetY + rows * ph > H || offsetX + cols * pw > W) {
    throw new NnError('NN_INVALID_ARGUMENT', 'cannot cut tiles: the grid does not fit the image');
  }
  const out: Float64Array[] = [];
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const p = new Float64Array(C * ph * pw);
      for (let ch = 0; ch < C; ch++)
        for (let y = 0; y < ph; y++) {
          const src = ch * H * W + (offsetY + r * ph + y) * W + offsetX + c * pw;
          for (let x = 0; x < pw; x++) p[ch * ph * pw + y * pw + x] = data[src + x];
        }
      out.push(p);
    }
  return out;
}

/** HWC interleaved pixels (what image decoders give) → CHW, keeping the first `channels`. */
export function interleavedToPlanar(
  data: ArrayLike<number>,
  width: number,
  height: number,
  srcChannels: number,
  channels = srcChannels,
): PlanarImage {
  if (data.length !== width * height * srcChannels || channels > srcChannels || channels < 1) {
    throw new NnError(
      'NN_SHAPE_MISMATCH',
      `cannot convert image: ${data.length} values for ${height}×${width}×${srcChannels}`,
    );
  }
  const out = new Float64Array(channels * width * height);
  for (let i = 0; i < width * height; i++)
    for (let c = 0; c < channels; c++) out[c * width * height + i] = data[i * srcChannels + c];
  return { channels, height, width, data: out };
}

/** Aggregates per-patch logits per class: max (default) or mean. */
export function aggregateLogits(
  perPatch: readonly ArrayLike<number>[],
  how: TileAggregation = 'max',
): Float64Array {
  if (perPatch.length === 0) throw new NnError('NN_INVALID_ARGUMENT', 'cannot aggregate: no patches');
  if (how !== 'max' && how !== 'mean') {
    throw new NnError('NN_INVALID_ARGUMENT', `cannot aggregate: unknown aggregation "${how}" (max | mean)`);
  }
  const k = perPatch[0].length;
  const out = new Float64Array(k).fill(how === 'max' ? Number.NEGATIVE_INFINITY : 0);
  for (const l of perPatch) {
    if (l.length !== k)
      throw new NnError('NN_SHAPE_MISMATCH', 'cannot aggregate: patches disagree on classes');
    for (let i = 0; i < k; i++)
      out[i] = how === 'max' ? Math.max(out[i], l[i]) : out[i] + l[i] / perPatch.length;
  }
  return out;
}

/** Float64 twin: every patch through the reference forward pass, then aggregated. */
export function classifyTilesPlain(
  model: CnnModel,
  patches: readonly ArrayLike<number>[],
  how: TileAggregation = 'max',
): TileResult {
  const perPatch = patches.map((p) => referenceForward(model, preprocessImage(model, p)));
  return { perPatch, aggregate: aggregateLogits(perPatch, how) };
}

/**
 * Streamed (latency plan): one ciphertext per patch, encrypted, run and decrypted in turn — Galois
 * keys needed, memory bounded by one patch. `onPatch` reports progress.
 */
export function classifyTilesStreamed(
  ctx: HeContext,
  keys: KeySet,
  client: ClientPlan,
  cnn: EncryptedCnn,
  patches: readonly ArrayLike<number>[],
  how: TileAggregation = 'max',
  onPatch?: (done: number, total: number) => void,
): TileResult {
  const perPatch = patches.map((p, i) => {
    const l = inferLocally(ctx, keys, client, cnn, p);
    onPatch?.(i + 1, patches.length);
    return l;
  });
  return { perPatch, aggregate: aggregateLogits(perPatch, how) };
}

/**
 * Packed (window-packed layout, window-packed.ts): up to `server.plan.patches` patches per request —
 * the client lays every patch's conv windows side by side (one ciphertext per kernel element, or
 * `copies` per ciphertext), the server runs the conv, x² and the dense layer without rotating
 * across windows, and the client sums each patch's windows after decryption. More patches than the
 * plan packs go in several requests. `server` is the server side (in-process here; over HTTP the
 * same three steps: {@link encryptWindowInputs}, `run`, {@link decryptWindowOutputs}).
 */
export function classifyTilesPacked(
  ctx: HeContext,
  keys: KeySet,
  server: WindowPackedServer,
  patches: readonly ArrayLike<number>[],
  how: TileAggregation = 'max',
): TileResult {
  if (patches.length === 0) throw new NnError('NN_INVALID_ARGUMENT', 'cannot classify tiles: no patches');
  const { plan } = server;
  const layout = windowPackedLayout(plan);
  const perPatch: Float64Array[] = [];
  for (let start = 0; start < patches.length; start += plan.patches) {
    const chunk = patches.slice(start, start + plan.patches);
    const cts = encryptWindowInputs(ctx, keys, layout, chunk);
    let outs: Ciphertext[] = [];
    try {
      outs = server.run(cts);
      perPatch.push(...decryptWindowOutputs(keys, layout, outs, chunk.length));
    } finally {
      for (const c of [...cts, ...outs]) c[Symbol.dispose]();
    }
  }
  return { perPatch, aggregate: aggregateLogits(perPatch, how) };
}

/** Bilinear resize of a CHW image (pixel centres aligned), for fitting an image to a grid. */
export function resizePlanar(image: PlanarImage, height: number, width: number): PlanarImage {
  if (!_positiveInt(height) || !_positiveInt(width)) {
    throw new NnError('NN_INVALID_ARGUMENT', `cannot resize: target ${height}×${width}`);
  }
  const { channels: C, height: H, width: W, data } = image;
  if (data.length !== C * H * W) {
    throw new NnError('NN_SHAPE_MISMATCH', `cannot resize: ${data.length} values for ${C}×${H}×${W}`);
  }
  const out = new Float64Array(C * height * width);
  const src = (v: number, n: number, m: number) => Math.min(Math.max(((v + 0.5) * n) / m - 0.5, 0), n - 1);
  for (let y = 0; y < height; y++) {
    const sy = src(y, H, height);
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, H - 1);
    const fy = sy - y0;
    for (let x = 0; x < width; x++) {
      const sx = src(x, W, width);
      const x0 = Math.floor(sx);
      const x1 = Math.min(x0 + 1, W - 1);
      const fx = sx - x0;
      for (let c = 0; c < C; c++) {
        const b = c * H * W;
        const top = data[b + y0 * W + x0] * (1 - fx) + data[b + y0 * W + x1] * fx;
        const bot = data[b + y1 * W + x0] * (1 - fx) + data[b + y1 * W + x1] * fx;
        out[c * height * width + y * width + x] = top * (1 - fy) + bot * fy;
      }
    }
  }
  return { channels: C, height, width, data: out };
}

/** Converts a CHW image to `channels` channels: RGB(A) → grey by the mean of RGB, grey → RGB replicated. */
export function toChannels(image: PlanarImage, channels: number): PlanarImage {
  const { channels: C, height: H, width: W, data } = image;
  if (C === channels) return image;
  const n = H * W;
  const out = new Float64Array(channels * n);
  if (channels === 1 && C >= 3) {
    for (let i = 0; i < n; i++) out[i] = (data[i] + data[n + i] + data[2 * n + i]) / 3;
  } else if (channels === 1) {
    for (let i = 0; i < n; i++) out[i] = data[i];
  } else if (channels === 3 && C < 3) {
    for (let c = 0; c < 3; c++) for (let i = 0; i < n; i++) out[c * n + i] = data[i];
  } else if (channels === 3) {
    for (let i = 0; i < 3 * n; i++) out[i] = data[i];
  } else {
    throw new NnError('NN_INVALID_ARGUMENT', `cannot convert a ${C}-channel image to ${channels} channels`);
  }
  return { channels, height: H, width: W, data: out };
}

/**
 * SDK: the tiled (patch) flow against the service, streamed — one request per patch on the model's
 * protected latency plan, at most `concurrency` in flight. The image is cut here exactly as the
 * in-process flow cuts it (`nn/cnn/tiles.ts`), each patch is encrypted here, the service runs the
 * CNN, and the per-patch logits are decrypted and aggregated here: the server sees one ciphertext
 * per patch and never the image, the logits or the aggregate. Browser-capable.
 *
 * @example
 * using cnn = await RemoteCnn.open(http, 'mnist-tenseal');
 * await cnn.register();
 * const r = await classifyImageTilesRemote(cnn, decoded, { grid: { rows: 3, cols: 3 } });
 */
import {
  aggregateLogits,
  cutTiles,
  interleavedToPlanar,
  planTileGrid,
  resizePlanar,
  type TileAggregation,
  type TileGrid,
  type TileResult,
  toChannels,
} from '../nn/cnn/tiles.ts';
import type { DecodedImage } from '../nn/preprocess.ts';
import { BlindDxError } from '../protocol/errors.ts';
import type { RemoteCnn } from './cnn-client.ts';
import { RemotePackedCnn } from './cnn-packed-client.ts';

/** Options of {@link classifyImageTilesRemote}. */
export interface RemoteTileOptions {
  /** rows × cols: the image is resized to exactly that grid of model inputs; else centre-cropped. */
  readonly grid?: { readonly rows: number; readonly cols: number };
  readonly aggregate?: TileAggregation;
  /** Requests in flight at once (default 2). */
  readonly concurrency?: number;
  readonly onPatch?: (done: number, total: number) => void;
}

/** What a remote tiled run cost on the wire. */
export interface RemoteTileStats {
  readonly modelId: string;
  readonly requests: number;
  readonly bytesUp: number;
  readonly bytesDown: number;
}

/** Per-patch logits, aggregate, grid and wire cost of a remote tiled run. */
export interface RemoteTileReport extends TileResult {
  readonly grid: TileGrid;
  readonly patches: Float64Array[];
  readonly remote: RemoteTileStats;
  readonly ms: number;
}

/** True for a window-packed served model (packed tiles), false for a latency-plan one (streamed). */
export function isPackedRemote(cnn: RemoteCnn | RemotePackedCnn): cnn is RemotePackedCnn {
  return cnn instanceof RemotePackedCnn;
}

/** The model input [C, H, W] of a remote CNN; a plan without an image input cannot be tiled. */
export function remoteInputShape(cnn: RemoteCnn | RemotePackedCnn): readonly [number, number, number] {
  const s = cnn.inputShape;
  if (s === undefined) {
    throw new BlindDxError(
      'WRONG_MODEL_KIND',
      `tiles: model ${cnn.modelId} takes a flat vector, not an image; it cannot be tiled`,
    );
  }
  return s;
}

/** The patches of a decoded image for a [C, ph, pw] model input (resized to `grid` when given). */
export function imagePatches(
  img: DecodedImage,
  shape: readonly [number, number, number],
  grid?: { readonly rows: number; readonly cols: number },
): { grid: TileGrid; patches: Float64Array[] } {
  const [C, ph, pw] = shape;
  let image = toChannels(
    interleavedToPlanar(img.data, img.width, img.height, img.channels, Math.min(img.channels, 3)),
    C,
  );
  if (grid) image = resizePlanar(image, grid.rows * ph, grid.cols * pw);
  const g = planTileGrid(image, { height: ph, width: pw }, grid);
  return { grid: g, patches: cutTiles(image, g) };
}

/**
 * Classifies ready-cut patches on the service — streamed (one request per patch) on a `RemoteCnn`,
 * packed (up to the layout's `patches` per request) on a `RemotePackedCnn` — and aggregates here.
 */
export async function classifyTilesRemote(
  cnn: RemoteCnn | RemotePackedCnn,
  patches: readonly ArrayLike<number>[],
  how: TileAggregation = 'max',
  opts: { concurrency?: number; onPatch?: (done: number, total: number) => void } = {},
): Promise<TileResult & { remote: RemoteTileStats }> {
  if (isPackedRemote(cnn)) {
    const { perPatch, stats } = await cnn.classifyPatches(patches, {
      ...(opts.onPatch === undefined ? {} : { onProgress: opts.onPatch }),
    });
    return {
      perPatch,
      aggregate: aggregateLogits(perPatch, how),
      remote: { modelId: cnn.modelId, ...stats },
    };
  }
  const rs = await cnn.classifyMany(patches, {
    ...(opts.concurrency === undefined ? {} : { concurrency: opts.concurrency }),
    ...(opts.onPatch === undefined ? {} : { onProgress: opts.onPatch }),
  });
  const perPatch = rs.map((r) => r.logits);
  return {
    perPatch,
    aggregate: aggregateLogits(perPatch, how),
    remote: {
      modelId: cnn.modelId,
      requests: rs.length,
      bytesUp: rs.reduce((n, r) => n + r.bytes.up, 0),
      bytesDown: rs.reduce((n, r) => n + r.bytes.down, 0),
    },
  };
}

/** The tiled flow on the service from a decoded image (the client must be registered). */
export async function classifyImageTilesRemote(
  cnn: RemoteCnn | RemotePackedCnn,
  img: DecodedImage,
  opts: RemoteTileOptions = {},
): Promise<RemoteTileReport> {
  const { grid, patches } = imagePatches(img, remoteInputShape(cnn), opts.grid);
  const t0 = performance.now();
  const r = await classifyTilesRemote(cnn, patches, opts.aggregate ?? 'max', opts);
  return { ...r, grid, patches, ms: performance.now() - t0 };
}

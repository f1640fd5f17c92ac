import { HeContext } from '../he/context.ts';
import { generateKeys } from '../he/keys.ts';
import { planBatch } from '../nn/cnn/batch-executor.ts';
import { EncryptedCnn } from '../nn/cnn/encrypted-executor.ts';
import type { CnnModel } from '../nn/cnn/ir.ts';
import { planCnn } from '../nn/cnn/planner.ts';
import {
  classifyTilesPacked,
  classifyTilesPlain,
  classifyTilesStreamed,
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

/** Options of {@link classifyImageTiles}. */
export interface TileClassifyOptions {
  /** rows × cols: the image is resized to exactly that grid of model inputs; else centre-cropped. */
  readonly grid?: { readonly rows: number; readonly cols: number };
  /** Throughput mode (one patch per slot, no Galois keys) instead of one ciphertext per patch. */
  readonly packed?: boolean;
  readonly aggregate?: TileAggregation;
  readonly onPatch?: (done: number, total: number) => void;
}

/** Encrypted per-patch logits and aggregate, with the float64 twin for comparison. */
export interface TileReport extends TileResult {
  readonly grid: TileGrid;
  readonly mode: 'streamed' | 'packed';
  readonly plain: TileResult;
  readonly ms: number;
}

/**
 * SDK: the tiled flow in this process (browser or Node) — keys are made here, each patch is
 * encrypted, the CNN runs on ciphertexts, per-patch logits are decrypted and aggregated here. The
 * service does not serve CNN plans yet, so the server side runs locally too.
 *
 * @example
 * const r = await classifyImageTiles(model, decoded, { grid: { rows: 3, cols: 3 } });
 * r.aggregate; // per-class max of the decrypted patch logits
 */
export async function classifyImageTiles(
  model: CnnModel,
  img: DecodedImage,
  opts: TileClassifyOptions = {},
): Promise<TileReport> {
  const [C, ph, pw] = model.inputShape.length === 3 ? model.inputShape : [1, ...model.inputShape];
  const how = opts.aggregate ?? 'max';
  let image = toChannels(
    interleavedToPlanar(img.data, img.width, img.height, img.channels, Math.min(img.channels, 3)),
    C,
  );
  if (opts.grid) image = resizePlanar(image, opts.grid.rows * ph, opts.grid.cols * pw);
  const grid = planTileGrid(image, { height: ph, width: pw }, opts.grid);
  const patches = cutTiles(image, grid);
  const t0 = performance.now();
  let result: TileResult;
  if (opts.packed === true) {
    const plan = planBatch(model);
    using ctx = await HeContext.create(plan.params.literal);
    using keys = generateKeys(ctx, { relin: true });
    result = classifyTilesPacked(ctx, keys, plan, patches, how);
  } else {
    const plan = planCnn(model);
    using ctx = await HeContext.create(plan.client.params);
    using keys = generateKeys(ctx, { relin: plan.client.relin, galoisSteps: plan.client.galoisSteps });
    using cnn = new EncryptedCnn(ctx, keys, plan.server);
    result = classifyTilesStreamed(ctx, keys, plan.client, cnn, patches, how, opts.onPatch);
  }
  return {
    ...result,
    grid,
    mode: opts.packed === true ? 'packed' : 'streamed',
    plain: classifyTilesPlain(model, patches, how),
    ms: performance.now() - t0,
  };
}

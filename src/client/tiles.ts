import { HeContext } from '../he/context.ts';
import { generateKeys } from '../he/keys.ts';
import { EncryptedCnn } from '../nn/cnn/encrypted-executor.ts';
import type { CnnModel } from '../nn/cnn/ir.ts';
import { planCnn } from '../nn/cnn/planner.ts';
import {
  classifyTilesPacked,
  classifyTilesPlain,
  classifyTilesStreamed,
  type TileAggregation,
  type TileGrid,
  type TileResult,
} from '../nn/cnn/tiles.ts';
import { planWindowPacked } from '../nn/cnn/window-packed.ts';
import { WindowPackedServer } from '../nn/cnn/window-packed-he.ts';
import { NnError } from '../nn/errors.ts';
import type { DecodedImage } from '../nn/preprocess.ts';
import type { RemoteCnn } from './cnn-client.ts';
import type { RemotePackedCnn } from './cnn-packed-client.ts';
import {
  classifyTilesRemote,
  imagePatches,
  isPackedRemote,
  type RemoteTileStats,
  remoteInputShape,
} from './cnn-tiles.ts';

/** Options of {@link classifyImageTiles}. */
export interface TileClassifyOptions {
  /** rows × cols: the image is resized to exactly that grid of model inputs; else centre-cropped. */
  readonly grid?: { readonly rows: number; readonly cols: number };
  /** Window-packed: all patches in one request (window-packed.ts) instead of one ciphertext per patch. */
  readonly packed?: boolean;
  readonly aggregate?: TileAggregation;
  readonly onPatch?: (done: number, total: number) => void;
  /**
   * Run the CNN on the service instead of in this process: a registered `RemoteCnn` (streamed: one
   * request per patch on the served, protected latency plan, `concurrency` in flight) or, with
   * `packed`, a registered `RemotePackedCnn` (window-packed: up to its `patches` per request). The
   * local `model` is used only for the patch shape and the float64 twin.
   */
  readonly remote?: { readonly cnn: RemoteCnn | RemotePackedCnn; readonly concurrency?: number };
}

/** Encrypted per-patch logits and aggregate, with the float64 twin for comparison. */
export interface TileReport extends TileResult {
  readonly grid: TileGrid;
  readonly mode: 'streamed' | 'packed';
  readonly plain: TileResult;
  readonly ms: number;
  /** Set when the service ran the CNN (`remote` option): model id, requests, bytes up and down. */
  readonly remote?: RemoteTileStats;
}

/**
 * SDK: the tiled flow (browser or Node) — keys are made here, each patch is encrypted, the CNN
 * runs on ciphertexts, per-patch logits are decrypted and aggregated here. The CNN runs in this
 * process, or on the service with `remote` (streamed: `RemoteCnn`; packed: `RemotePackedCnn`).
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
  const { grid, patches } = imagePatches(img, [C, ph, pw], opts.grid);
  const t0 = performance.now();
  let result: TileResult;
  let remote: RemoteTileStats | undefined;
  if (opts.remote !== undefined) {
    if ((opts.packed === true) !== isPackedRemote(opts.remote.cnn)) {
      throw new NnError(
        'NN_INVALID_ARGUMENT',
        opts.packed === true
          ? 'cannot classify tiles: packed on the service needs a window-packed model (RemotePackedCnn)'
          : 'cannot classify tiles: a window-packed model on the service runs packed tiles only (packed: true)',
      );
    }
    const shape = remoteInputShape(opts.remote.cnn);
    if (shape.join() !== [C, ph, pw].join()) {
      throw new NnError(
        'NN_SHAPE_MISMATCH',
        `cannot classify tiles: the served model takes ${shape.join('×')}, the local model ${C}×${ph}×${pw}`,
      );
    }
    const r = await classifyTilesRemote(opts.remote.cnn, patches, how, {
      ...(opts.remote.concurrency === undefined ? {} : { concurrency: opts.remote.concurrency }),
      ...(opts.onPatch === undefined ? {} : { onPatch: opts.onPatch }),
    });
    result = r;
    remote = r.remote;
  } else if (opts.packed === true) {
    const plan = planWindowPacked(model, { patches: patches.length });
    using ctx = await HeContext.create(plan.chain.literal);
    using keys = generateKeys(ctx, { relin: true, galoisSteps: plan.galoisSteps });
    using server = new WindowPackedServer(ctx, keys, plan);
    result = classifyTilesPacked(ctx, keys, server, patches, how);
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
    ...(remote === undefined ? {} : { remote }),
  };
}

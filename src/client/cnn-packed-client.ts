/**
 * SDK: the tiled flow's packed mode on the service — a window-packed CNN (`nn/cnn/window-packed.ts`:
 * slot = (patch, window), one ciphertext per kernel-element group), many patches per request. The
 * layout (parameters, packing, Galois steps, protection; no weights) comes from the signed client
 * bundle; keys are made here; each request is the layout's `inputs` seeded ciphertexts for up to
 * `patches` patches, and the answer its `outputs` protected ciphertexts, decrypted and summed per
 * patch here. Grids larger than `patches` take several requests. Browser-capable.
 *
 * @example
 * using cnn = await RemotePackedCnn.open(http, 'colour.packed');
 * await cnn.register();
 * const perPatch = await cnn.classifyPatches(patches); // per-patch logits
 */
import { HeContext } from '../he/context.ts';
import type { Ciphertext } from '../he/handles.ts';
import { loadCiphertext } from '../he/hardened-load.ts';
import { generateKeys, type KeySet } from '../he/keys.ts';
import type { WindowPackedLayout } from '../nn/cnn/window-packed.ts';
import { decryptWindowOutputs, encryptWindowInputsSeeded } from '../nn/cnn/window-packed-he.ts';
import { MODEL_KIND_HEADER, parseCnnPackedLayout } from '../protocol/cnn-layout.ts';
import { BlindDxError } from '../protocol/errors.ts';
import type { BlindDxClient } from './http-client.ts';
import { RemoteSession } from './remote-session.ts';

/** Wire cost of a packed run. */
export interface PackedRunStats {
  readonly requests: number;
  readonly bytesUp: number;
  readonly bytesDown: number;
}

export class RemotePackedCnn extends RemoteSession {
  readonly layout: WindowPackedLayout;

  private constructor(
    http: BlindDxClient,
    modelId: string,
    layout: WindowPackedLayout,
    classes: readonly string[],
    ctx: HeContext,
  ) {
    super(http, modelId, classes, ctx);
    this.layout = layout;
  }

  /** Downloads and verifies the bundle; a model of another kind is `WRONG_MODEL_KIND`. */
  static async open(http: BlindDxClient, modelId: string): Promise<RemotePackedCnn> {
    const { manifest } = await http.getModel(modelId);
    const layout = parseCnnPackedLayout(manifest);
    const ctx = await HeContext.create(layout.chain.literal);
    return new RemotePackedCnn(http, modelId, layout, manifest.classes, ctx);
  }

  /** The patch shape [C, H, W] the layout takes. */
  get inputShape(): readonly [number, number, number] {
    return this.layout.inShape;
  }

  /** Makes keys (relin + the layout's Galois steps) and registers their public part. */
  async register(): Promise<{ clientId: string; bytes: number }> {
    return this.registerKeys(
      () => generateKeys(this.ctx, { relin: true, galoisSteps: this.layout.galoisSteps }),
      true,
    );
  }

  /**
   * Per-patch logits of any number of patches (raw CHW pixels), `layout.patches` per request, one
   * request at a time; `onProgress(done, total)` after each request.
   */
  async classifyPatches(
    patches: readonly ArrayLike<number>[],
    opts: { onProgress?: (done: number, total: number) => void } = {},
  ): Promise<{ perPatch: Float64Array[]; stats: PackedRunStats }> {
    const { keys, clientId } = this.registered();
    const L = this.layout;
    const perPatch: Float64Array[] = [];
    let requests = 0;
    let bytesUp = 0;
    let bytesDown = 0;
    for (let start = 0; start < patches.length; start += L.patches) {
      const chunk = patches.slice(start, start + L.patches);
      const inputs = encryptWindowInputsSeeded(this.ctx, keys, L, chunk);
      const r = await this.http.infer({
        modelId: this.modelId,
        clientId,
        inputs,
        outputs: L.outputs,
        headers: { [MODEL_KIND_HEADER]: 'cnn-packed' },
      });
      requests++;
      bytesUp += inputs.reduce((n, b) => n + b.length, 0);
      bytesDown += r.results.reduce((n, b) => n + b.length, 0);
      perPatch.push(...this.#decrypt(keys, r.results, chunk.length));
      opts.onProgress?.(Math.min(start + L.patches, patches.length), patches.length);
    }
    return { perPatch, stats: { requests, bytesUp, bytesDown } };
  }

  #decrypt(keys: KeySet, results: readonly Uint8Array[], count: number): Float64Array[] {
    const L = this.layout;
    const period = L.block * L.copies;
    const cts: Ciphertext[] = [];
    try {
      for (const bytes of results) {
        try {
          cts.push(
            loadCiphertext(this.ctx, bytes, {
              layout: { kind: 'slots', length: period, period },
              level: this.ctx.maxLevel - 2,
              scale: 2 ** L.chain.outputScaleBits,
              allowSeeded: false,
            }),
          );
        } catch (e) {
          throw new BlindDxError(
            'BAD_CIPHERTEXT',
            `classify: the server's result is not this layout's response (${(e as Error).message})`,
          );
        }
      }
      return decryptWindowOutputs(keys, L, cts, count);
    } finally {
      for (const c of cts) c[Symbol.dispose]();
    }
  }
}

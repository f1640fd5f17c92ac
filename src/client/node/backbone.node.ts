/**
 * The public backbone of a split model, run in cleartext on this machine with onnxruntime: one
 * decoded image → preprocessing exactly as in training → the embedding that gets encrypted. The
 * backbone file is used only if its SHA-256 equals the digest the verified client bundle pins.
 */
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { type DecodedImage, preprocessImage } from '../../nn/preprocess.ts';
import { sha256Digest } from '../../protocol/digest.ts';
import { BlindDxError } from '../../protocol/errors.ts';
import type { SplitHeadModel } from '../split-head-flow.ts';

/** Reads the first candidate file whose digest matches the bundle's pin for the backbone. */
export async function readPinnedBackbone(
  model: SplitHeadModel,
  candidates: readonly string[],
): Promise<{ path: string; bytes: Uint8Array }> {
  const want = model.manifest.files[model.layout.backbone.file];
  const seen: string[] = [];
  for (const path of candidates) {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(path));
    } catch {
      continue;
    }
    if ((await sha256Digest(bytes)) === want) return { path, bytes };
    seen.push(path);
  }
  throw new BlindDxError(
    'MODEL_BUNDLE_MISMATCH',
    seen.length > 0
      ? `backbone: ${seen.join(', ')} does not match the signed digest ${want} of model ${model.modelId}`
      : `backbone: no file found for model ${model.modelId} (looked in ${candidates.join(', ')}); pass --backbone`,
  );
}

/** A loaded backbone session; release it when done. */
export class Backbone {
  readonly #session: ort.InferenceSession;
  readonly #model: SplitHeadModel;

  private constructor(session: ort.InferenceSession, model: SplitHeadModel) {
    this.#session = session;
    this.#model = model;
  }

  static async load(model: SplitHeadModel, bytes: Uint8Array): Promise<Backbone> {
    return new Backbone(await ort.InferenceSession.create(bytes), model);
  }

  /** The embedding of one image (float32 as the backbone emits it). */
  async embed(image: DecodedImage): Promise<Float32Array> {
    const pre = this.#model.preprocessing;
    const { input, output } = this.#model.layout.backbone;
    const x = preprocessImage(pre, image);
    const out = await this.#session.run({
      [input]: new ort.Tensor('float32', x, [1, pre.channels, pre.height, pre.width]),
    });
    const emb = out[output]?.data;
    if (!(emb instanceof Float32Array) || emb.length !== this.#model.layout.embeddingDim) {
      throw new BlindDxError(
        'MODEL_BUNDLE_MISMATCH',
        `backbone: output "${output}" is not ${this.#model.layout.embeddingDim} float32 values`,
      );
    }
    return Float32Array.from(emb);
  }

  async release(): Promise<void> {
    await this.#session.release();
  }
}

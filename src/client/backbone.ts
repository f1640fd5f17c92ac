/**
 * The public backbone of a split model, run in cleartext on the client: one decoded image →
 * preprocessing exactly as in training → the embedding that gets encrypted. Runtime-neutral: the
 * caller passes onnxruntime (`onnxruntime-node` in `node/backbone.node.ts`, `onnxruntime-web` in
 * the web app), so Node and the browser run the same code on the same pinned ONNX bytes.
 *
 * @example
 * const backbone = await SplitBackbone.load(ort, model, await sdk.getModelFile(id, file));
 * const embedding = await backbone.embed(image);
 */
import { type DecodedImage, preprocessImage } from '../nn/preprocess.ts';
import { BlindDxError } from '../protocol/errors.ts';
import type { SplitHeadModel } from './split-head-flow.ts';

/** What the backbone needs from an onnxruntime session. */
export interface OrtSessionLike {
  run(feeds: Record<string, unknown>): Promise<Record<string, { readonly data: unknown } | undefined>>;
  release(): Promise<void>;
}

/** The part of an onnxruntime module (node or web) the backbone uses. */
export interface OrtLike {
  readonly InferenceSession: { create(model: Uint8Array): Promise<unknown> };
  readonly Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;
}

/** A loaded backbone session; release it when done. */
export class SplitBackbone {
  readonly #ort: OrtLike;
  readonly #session: OrtSessionLike;
  readonly #model: SplitHeadModel;

  private constructor(ort: OrtLike, session: OrtSessionLike, model: SplitHeadModel) {
    this.#ort = ort;
    this.#session = session;
    this.#model = model;
  }

  /** `bytes` must already be checked against the bundle's digest (`getModelFile` does). */
  static async load(ort: OrtLike, model: SplitHeadModel, bytes: Uint8Array): Promise<SplitBackbone> {
    return new SplitBackbone(ort, (await ort.InferenceSession.create(bytes)) as OrtSessionLike, model);
  }

  /** The preprocessed backbone input `[channels, height, width]` of one image. */
  preprocess(image: DecodedImage): Float32Array {
    return preprocessImage(this.#model.preprocessing, image);
  }

  /** The embedding of one image (float32 as the backbone emits it). */
  async embed(image: DecodedImage): Promise<Float32Array> {
    return this.embedInput(this.preprocess(image));
  }

  /** The embedding of an already preprocessed input (see {@link preprocess}). */
  async embedInput(x: Float32Array): Promise<Float32Array> {
    const pre = this.#model.preprocessing;
    const { input, output } = this.#model.layout.backbone;
    const out = await this.#session.run({
      [input]: new this.#ort.Tensor('float32', x, [1, pre.channels, pre.height, pre.width]),
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

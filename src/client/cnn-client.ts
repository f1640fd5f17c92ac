/**
 * SDK: an encrypted CNN the service runs (the whole-image flow), over {@link BlindDxClient}. The
 * client part of the model's plan comes from the signed client bundle (verified against the trusted
 * publisher keys): parameters, preprocessing, input packing, output slots, the exact Galois steps
 * and the response protection. Keys are made here and only their public part is uploaded; each image
 * is preprocessed, packed and encrypted (seeded) here, the response signature is verified, and the
 * protected result is decrypted here. Browser-capable: no Node built-ins.
 *
 * ```
 * RemoteCnn.open(http, id) ─ GET /v1/models/:id (verify signature, parse CNN layout)
 *   .register()           ─ keys (secret stays here) → POST /v1/clients (public, relin, Galois)
 *   .classify(pixels)     ─ pack + encrypt → POST /v1/infer/:id → verify → decrypt → logits
 * ```
 *
 * @example
 * using cnn = await RemoteCnn.open(http, 'mnist-tenseal');
 * await cnn.register();
 * const r = await cnn.classify(pixels); // r.logits, r.probabilities, r.predicted
 */
import { HeContext } from '../he/context.ts';
import { generateKeys, type KeySet } from '../he/keys.ts';
import { decryptResponse, encryptInputSeeded } from '../nn/cnn/client.ts';
import type { ClientPlan } from '../nn/cnn/plan.ts';
import { argmax, softmax } from '../nn/logits.ts';
import { MODEL_KIND_HEADER, parseCnnLayout } from '../protocol/cnn-layout.ts';
import type { Digest } from '../protocol/digest.ts';
import { BlindDxError } from '../protocol/errors.ts';
import type { BlindDxClient } from './http-client.ts';
import { RemoteSession } from './remote-session.ts';

/** One image classified by the service, decrypted here. */
export interface RemoteCnnResult {
  readonly logits: Float64Array;
  /** Softmax of the logits. */
  readonly probabilities: Float64Array;
  readonly predicted: number;
  readonly requestId: string | null;
  /** Bytes sent (the seeded ciphertext) and received (the result ciphertext). */
  readonly bytes: { readonly up: number; readonly down: number };
  readonly ms: number;
}

/** Progress and parallelism of {@link RemoteCnn.classifyMany}. */
export interface ClassifyManyOptions {
  /** Requests in flight at once (default 2, the service's default compute concurrency). */
  readonly concurrency?: number;
  /** Called after each image with (done, total). */
  readonly onProgress?: (done: number, total: number) => void;
}

export class RemoteCnn extends RemoteSession {
  readonly modelDigest: Digest;
  readonly plan: ClientPlan;

  private constructor(
    http: BlindDxClient,
    modelId: string,
    modelDigest: Digest,
    plan: ClientPlan,
    classes: readonly string[],
    ctx: HeContext,
  ) {
    super(http, modelId, classes, ctx);
    this.modelDigest = modelDigest;
    this.plan = plan;
  }

  /**
   * Downloads and verifies the model's client bundle and reads its CNN plan. A model of another
   * kind (a split model) is `WRONG_MODEL_KIND`.
   */
  static async open(http: BlindDxClient, modelId: string): Promise<RemoteCnn> {
    const { manifest, modelDigest } = await http.getModel(modelId);
    const plan = parseCnnLayout(manifest);
    const ctx = await HeContext.create(plan.params);
    return new RemoteCnn(http, modelId, modelDigest, plan, manifest.classes, ctx);
  }

  /** Pixels per image the plan takes (CHW, raw values before preprocessing). */
  get inputSize(): number {
    const i = this.plan.input;
    return i.kind === 'im2col' ? i.shape[0] * i.shape[1] * i.shape[2] : i.size;
  }

  /** The input shape [C, H, W] when the plan knows it (im2col input), else undefined. */
  get inputShape(): readonly [number, number, number] | undefined {
    return this.plan.input.kind === 'im2col' ? this.plan.input.shape : undefined;
  }

  /**
   * Makes keys for exactly the plan's Galois steps and relinearization need (or uses `keys`, which
   * must fit the plan) and registers their public part. Returns the client id and upload size.
   */
  async register(keys?: KeySet): Promise<{ clientId: string; bytes: number }> {
    return this.registerKeys(
      () => keys ?? generateKeys(this.ctx, { relin: this.plan.relin, galoisSteps: this.plan.galoisSteps }),
      keys === undefined,
    );
  }

  /** Encrypts one image (raw CHW pixels) as the seeded ciphertext the service expects. */
  encrypt(pixels: ArrayLike<number>): Uint8Array {
    return encryptInputSeeded(this.ctx, this.registered().keys, this.plan, pixels);
  }

  /**
   * Reads a result ciphertext: hardened loading at exactly the level and scale the plan's
   * protection announces, then decryption of the output slots.
   */
  decrypt(result: Uint8Array): Float64Array {
    const { keys } = this.registered();
    try {
      return decryptResponse(this.ctx, keys, this.plan, result);
    } catch (e) {
      throw new BlindDxError(
        'BAD_CIPHERTEXT',
        `classify: the server's result is not this plan's response (${(e as Error).message})`,
      );
    }
  }

  /** Classifies one image under encryption on the service. */
  async classify(
    pixels: ArrayLike<number>,
    opts: { idempotencyKey?: string } = {},
  ): Promise<RemoteCnnResult> {
    const { clientId } = this.registered();
    const t0 = performance.now();
    const ct = this.encrypt(pixels);
    const r = await this.http.infer({
      modelId: this.modelId,
      clientId,
      inputs: [ct],
      headers: { [MODEL_KIND_HEADER]: 'cnn' },
      ...(opts.idempotencyKey === undefined ? {} : { idempotencyKey: opts.idempotencyKey }),
    });
    const logits = this.decrypt(r.results[0]);
    const probabilities = softmax(logits);
    return {
      logits,
      probabilities,
      predicted: argmax(logits),
      requestId: r.requestId,
      bytes: { up: ct.length, down: r.results[0].length },
      ms: performance.now() - t0,
    };
  }

  /**
   * Classifies many images, one request each, at most `concurrency` in flight; results in input
   * order. The first failure stops new requests and is thrown once the in-flight ones settle.
   */
  async classifyMany(
    images: readonly ArrayLike<number>[],
    opts: ClassifyManyOptions = {},
  ): Promise<RemoteCnnResult[]> {
    const limit = opts.concurrency ?? 2;
    if (!Number.isSafeInteger(limit) || limit < 1)
      throw new TypeError(`classifyMany: "concurrency" expected a positive integer, got ${limit}`);
    const out: RemoteCnnResult[] = new Array(images.length);
    let next = 0;
    let done = 0;
    let failed: unknown;
    const worker = async () => {
      while (failed === undefined && next < images.length) {
        const i = next++;
        try {
          out[i] = await this.classify(images[i]);
        } catch (e) {
          failed ??= e;
          return;
        }
        opts.onProgress?.(++done, images.length);
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, images.length) }, worker));
    if (failed !== undefined) throw failed;
    return out;
  }
}

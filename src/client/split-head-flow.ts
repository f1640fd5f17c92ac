/**
 * The client half of the embedding flow, over the SDK (`BlindDxClient`), with web-platform APIs only
 * (the backbone and files are the caller's: `node/` has the Node versions):
 *
 *   verified bundle → register public material once (client id cached by the caller) →
 *   encrypt the embedding → infer (response signature verified by the SDK) → hardened load of the
 *   `result` envelopes → decrypt the logits → exact sigmoid/softmax.
 *
 * Nothing derived from a decryption is ever sent: the only uploads are the public key and fresh
 * ciphertexts.
 *
 * @example
 * const model = await openSplitHeadModel(sdk, 'pneumoniamnist');
 * const r = await diagnoseEmbedding({ sdk, model, keys, clientIds, embedding });
 */
import type { HeContext } from '../he/context.ts';
import { ENVELOPE_HEADER_BYTES, readEnvelopeHeader } from '../he/envelope.ts';
import type { Ciphertext } from '../he/handles.ts';
import { loadCiphertextEnvelope, maxCiphertextBytes } from '../he/hardened-load.ts';
import type { KeySet } from '../he/keys.ts';
import { decryptLogits, encryptEmbedding } from '../nn/coeff-head-client.ts';
import { type HeadSpec, probabilities } from '../nn/head.ts';
import { type PreprocessSpec, validatePreprocessSpec } from '../nn/preprocess.ts';
import type { Digest } from '../protocol/digest.ts';
import { BlindDxError } from '../protocol/errors.ts';
import type { ClientManifest } from '../protocol/model-bundle.ts';
import type { ResponseStatement } from '../protocol/response-signature.ts';
import { parseSplitHeadLayout, type SplitHeadLayout } from '../protocol/split-head-layout.ts';
import type { BlindDxClient } from './http-client.ts';

/** A verified split-head model as the client uses it. */
export interface SplitHeadModel {
  readonly modelId: string;
  readonly manifest: ClientManifest;
  readonly modelDigest: Digest;
  readonly layout: SplitHeadLayout;
  readonly preprocessing: PreprocessSpec;
}

/** Where client ids are remembered (per server, model and key set); the Node CLI keeps a file. */
export interface ClientIdCache {
  get(modelId: string): string | undefined;
  set(modelId: string, clientId: string, expiresAt: string): void;
  delete(modelId: string): void;
}

/** An in-memory {@link ClientIdCache} (tests, browser sessions). */
export function memoryClientIdCache(): ClientIdCache {
  const m = new Map<string, string>();
  return {
    get: (id) => m.get(id),
    set: (id, c) => void m.set(id, c),
    delete: (id) => void m.delete(id),
  };
}

/** Fetches and verifies a model's client bundle and checks it is a split-head model. */
export async function openSplitHeadModel(sdk: BlindDxClient, modelId: string): Promise<SplitHeadModel> {
  const { manifest, modelDigest } = await sdk.getModel(modelId);
  const layout = parseSplitHeadLayout(manifest);
  let preprocessing: PreprocessSpec;
  try {
    preprocessing = validatePreprocessSpec(manifest.preprocessing);
  } catch (e) {
    throw new BlindDxError('MODEL_BUNDLE_MISMATCH', `model ${modelId}: ${(e as Error).message}`);
  }
  return { modelId, manifest, modelDigest, layout, preprocessing };
}

/** Registers `keys`' public material for the model unless the cache has a client id. */
export async function ensureRegistered(
  sdk: BlindDxClient,
  model: SplitHeadModel,
  keys: KeySet,
  cache: ClientIdCache,
): Promise<{ clientId: string; uploadedBytes: number }> {
  const hit = cache.get(model.modelId);
  if (hit !== undefined) return { clientId: hit, uploadedBytes: 0 };
  const m = keys.exportPublic();
  // Rotation-free head: the public key only (the server refuses anything more).
  const r = await sdk.register(model.modelId, { publicKey: m.publicKey });
  cache.set(model.modelId, r.clientId, r.expiresAt);
  return { clientId: r.clientId, uploadedBytes: m.publicKey.length };
}

/**
 * Splits a response body into its `result` envelopes (one per output group) and loads each through
 * hardened loading at the level and scale the plan fixes: a malformed or substituted result is
 * refused before the secret key touches it.
 */
export function loadResults(ctx: HeContext, layout: SplitHeadLayout, body: Uint8Array): Ciphertext[] {
  const out: Ciphertext[] = [];
  const maxBytes = ENVELOPE_HEADER_BYTES + maxCiphertextBytes(ctx, ctx.maxLevel);
  try {
    let off = 0;
    for (const positions of layout.plan.groups) {
      const rest = body.subarray(off);
      // The header alone: the rest of the body may hold further envelopes.
      const h = readEnvelopeHeader(rest.subarray(0, ENVELOPE_HEADER_BYTES), {
        expectedKind: 'result',
        expectedFingerprint: ctx.params,
        maxBytes,
      });
      if (h.totalLength > rest.length) {
        throw new BlindDxError('BAD_REQUEST', 'result: an envelope runs past the end of the response');
      }
      out.push(
        loadCiphertextEnvelope(ctx, rest.subarray(0, h.totalLength), {
          kind: 'result',
          layout: { kind: 'coeffs', length: positions.length, positions },
          level: ctx.maxLevel,
          scale: 2 ** layout.plan.outputScaleBits,
          allowSeeded: false,
        }),
      );
      off += h.totalLength;
    }
    if (off !== body.length) {
      throw new BlindDxError('BAD_REQUEST', `result: ${body.length - off} bytes after the last envelope`);
    }
    return out;
  } catch (e) {
    for (const c of out) c[Symbol.dispose]();
    throw e;
  }
}

/** Class probabilities from decrypted logits: exactly the plaintext head's activation. */
export function headProbabilities(layout: SplitHeadLayout, logits: ArrayLike<number>): Float64Array {
  return probabilities({ activation: layout.activation } as HeadSpec, logits);
}

export interface EmbeddingDiagnosis {
  readonly probabilities: Float64Array;
  readonly logits: Float64Array;
  readonly clientId: string;
  /** The server's verified statement: model digest, request/result digests, time. */
  readonly statement: ResponseStatement;
  readonly requestId: string | null;
  readonly bytes: { readonly up: number; readonly down: number; readonly keyUpload: number };
  readonly timingsMs: {
    readonly encrypt: number;
    readonly register: number;
    /** HTTP round trip of the inference request (server compute included). */
    readonly infer: number;
    readonly decrypt: number;
  };
}

/**
 * Encrypts one embedding, has the server evaluate the head, and decrypts the answer. Registers the
 * key set on first use; if the server no longer knows a cached client id (expired, deleted, a new
 * store), registers again once.
 */
export async function diagnoseEmbedding(args: {
  sdk: BlindDxClient;
  model: SplitHeadModel;
  keys: KeySet;
  clientIds: ClientIdCache;
  embedding: ArrayLike<number>;
}): Promise<EmbeddingDiagnosis> {
  const { sdk, model, keys, clientIds } = args;
  const ctx = keys.context;
  if (ctx.presetName !== model.manifest.preset) {
    throw new TypeError(
      `diagnoseEmbedding: keys are for ${ctx.presetName}, model ${model.modelId} needs ${model.manifest.preset}`,
    );
  }
  let t = performance.now();
  const upload = encryptEmbedding(keys, model.layout.plan, args.embedding);
  const encryptMs = performance.now() - t;
  t = performance.now();
  let reg = await ensureRegistered(sdk, model, keys, clientIds);
  let registerMs = performance.now() - t;
  t = performance.now();
  let res: Awaited<ReturnType<BlindDxClient['infer']>>;
  try {
    res = await sdk.infer({ modelId: model.modelId, clientId: reg.clientId, inputs: [upload] });
  } catch (e) {
    const stale =
      reg.uploadedBytes === 0 &&
      e instanceof BlindDxError &&
      (e.code === 'NOT_FOUND' || e.code === 'FORBIDDEN_CLIENT' || e.code === 'BAD_REQUEST');
    if (!stale) throw e;
    clientIds.delete(model.modelId);
    const t0 = performance.now();
    reg = await ensureRegistered(sdk, model, keys, clientIds);
    registerMs += performance.now() - t0;
    t = performance.now();
    res = await sdk.infer({ modelId: model.modelId, clientId: reg.clientId, inputs: [upload] });
  }
  const inferMs = performance.now() - t;
  t = performance.now();
  const results = loadResults(ctx, model.layout, res.results[0]);
  let logits: Float64Array;
  try {
    logits = decryptLogits(keys, model.layout.plan, results);
  } finally {
    for (const r of results) r[Symbol.dispose]();
  }
  const probs = headProbabilities(model.layout, logits);
  const decryptMs = performance.now() - t;
  return {
    probabilities: probs,
    logits,
    clientId: reg.clientId,
    statement: res.statement,
    requestId: res.requestId,
    bytes: { up: upload.length, down: res.results[0].length, keyUpload: reg.uploadedBytes },
    timingsMs: { encrypt: encryptMs, register: registerMs, infer: inferMs, decrypt: decryptMs },
  };
}

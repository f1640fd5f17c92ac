/**
 * The BlindDx client SDK core over `fetch` (Node 24 and browsers). It registers public evaluation
 * material, sends ciphertexts, and trusts nothing it cannot check: model bundles must be signed
 * by a trusted publisher key, and every inference response must carry a valid server signature
 * over this request's bytes, the result's bytes and the verified bundle's model digest.
 *
 * Retries: only transient failures — network errors and 502/504 on idempotent requests, and 429 /
 * 503 / 409 IDEMPOTENCY_IN_PROGRESS, where the server says it did nothing yet — with exponential
 * backoff and jitter, honouring Retry-After. Inference always carries an idempotency key, so a
 * retried request returns the stored result instead of a second computation. Never retried: 4xx.
 *
 * Encryption and decryption are not here: callers pass ciphertext bytes from the `he` layer and
 * get ciphertext bytes back. Nothing derived from a decryption is ever sent.
 *
 * @example
 * const c = new BlindDxClient({ baseUrl, token, trustedModelKeys: [publisherKey] });
 * const { clientId } = await c.register('demo-head', { publicKey, galoisKeys });
 * const { results } = await c.infer({ modelId: 'demo-head', clientId, inputs: [ct] });
 */
import { type Digest, sha256Digest } from '../protocol/digest.ts';
import { type PublicKeyJwk, parsePublicKey } from '../protocol/ed25519.ts';
import { BlindDxError, type ErrorBody, isErrorCode } from '../protocol/errors.ts';
import { type ClientManifest, verifyClientBundle } from '../protocol/model-bundle.ts';
import { decodeParts, encodeParts } from '../protocol/parts-container.ts';
import { type ResponseStatement, verifyResponse } from '../protocol/response-signature.ts';
import type { ClientRegisteredBody, ModelListBody, ServerKeyBody } from '../protocol/schemas.ts';
import { CONTENT_TYPE_BINARY, CONTENT_TYPE_PARTS, HEADER } from '../protocol/wire.ts';

export interface RetryPolicy {
  /** Total attempts including the first (default 4). */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** A Retry-After longer than this is not waited for: the error is returned (default 30 s). */
  readonly maxRetryAfterMs: number;
}

export interface BlindDxClientOptions {
  readonly baseUrl: string;
  /** Organisation API token. */
  readonly token: string;
  /** Publisher keys whose model bundle signatures are trusted. */
  readonly trustedModelKeys: readonly PublicKeyJwk[];
  /**
   * Server response-signing keys. Pin them where possible; when omitted they are fetched once from
   * `/v1/server-key` (trust on first use).
   */
  readonly serverKeys?: readonly PublicKeyJwk[];
  readonly retry?: Partial<RetryPolicy>;
  readonly fetch?: typeof fetch;
  /** For tests: the wait between retries, and the jitter source. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

export interface KeyMaterialUpload {
  readonly publicKey: Uint8Array;
  readonly relinKeys?: Uint8Array;
  readonly galoisKeys?: Uint8Array;
}

export interface InferResult {
  /** One result ciphertext per input, in order. */
  readonly results: Uint8Array[];
  /** The verified server statement (model digest, request/result digests, time). */
  readonly statement: ResponseStatement;
  readonly requestId: string | null;
  /** True when the server answered from its idempotency store (a retry of an earlier request). */
  readonly replay: boolean;
  readonly attempts: number;
}

const _defaults: RetryPolicy = {
  maxAttempts: 4,
  baseDelayMs: 200,
  maxDelayMs: 5000,
  maxRetryAfterMs: 30_000,
};

/** Delay before retry number `attempt` (1-based): exponential with "equal jitter", or Retry-After. */
export function backoffDelay(
  policy: RetryPolicy,
  attempt: number,
  retryAfterSeconds: number | undefined,
  random: () => number,
): number {
  if (retryAfterSeconds !== undefined) return retryAfterSeconds * 1000;
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return exp / 2 + (exp / 2) * random();
}

function _toBody(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return b.buffer instanceof ArrayBuffer ? (b as Uint8Array<ArrayBuffer>) : new Uint8Array(b);
}

export class BlindDxClient {
  readonly #o: BlindDxClientOptions;
  readonly #retry: RetryPolicy;
  readonly #fetch: typeof fetch;
  readonly #models = new Map<string, { manifest: ClientManifest; modelDigest: Digest }>();
  #serverKeys: readonly PublicKeyJwk[] | undefined;

  constructor(options: BlindDxClientOptions) {
    if (typeof options.baseUrl !== 'string' || !/^https?:\/\//.test(options.baseUrl)) {
      throw new TypeError(`BlindDxClient: "baseUrl" expected an http(s) URL, got ${String(options.baseUrl)}`);
    }
    if (typeof options.token !== 'string' || options.token.length === 0) {
      throw new TypeError('BlindDxClient: "token" expected a non-empty string');
    }
    this.#o = options;
    this.#retry = Object.freeze({ ..._defaults, ...options.retry });
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#serverKeys = options.serverKeys;
  }

  async #request(
    method: string,
    path: string,
    init: { body?: Uint8Array; contentType?: string; headers?: Record<string, string>; idempotent: boolean },
  ): Promise<{ res: Response; bytes: Uint8Array; attempts: number }> {
    const url = `${this.#o.baseUrl.replace(/\/$/, '')}${path}`;
    const sleep = this.#o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const random = this.#o.random ?? Math.random;
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await this.#fetch(url, {
          method,
          headers: {
            authorization: `Bearer ${this.#o.token}`,
            ...(init.contentType === undefined ? {} : { 'content-type': init.contentType }),
            ...init.headers,
          },
          body: init.body === undefined ? undefined : _toBody(init.body),
        });
      } catch (e) {
        // Network failure: the request may or may not have reached the server.
        if (init.idempotent && attempt < this.#retry.maxAttempts) {
          await sleep(backoffDelay(this.#retry, attempt, undefined, random));
          continue;
        }
        throw e;
      }
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (res.ok) return { res, bytes, attempts: attempt };
      const err = this.#error(res, bytes);
      const transient =
        res.status === 429 ||
        res.status === 503 ||
        err.code === 'IDEMPOTENCY_IN_PROGRESS' ||
        (init.idempotent && (res.status === 502 || res.status === 504));
      const wait = err.retryAfterSeconds;
      if (
        !transient ||
        attempt >= this.#retry.maxAttempts ||
        (wait !== undefined && wait * 1000 > this.#retry.maxRetryAfterMs)
      ) {
        throw err;
      }
      await sleep(backoffDelay(this.#retry, attempt, wait, random));
    }
  }

  #error(res: Response, bytes: Uint8Array): BlindDxError {
    let body: Partial<ErrorBody> = {};
    try {
      body = JSON.parse(new TextDecoder().decode(bytes));
    } catch {}
    const code = isErrorCode(body.error?.code) ? body.error.code : 'INTERNAL';
    const ra = Number(res.headers.get(HEADER.retryAfter));
    return new BlindDxError(code, `HTTP ${res.status}: ${body.error?.message ?? res.statusText}`, {
      retryAfterSeconds:
        Number.isFinite(ra) && ra >= 0 && res.headers.has(HEADER.retryAfter) ? ra : undefined,
    });
  }

  async #json<T>(method: string, path: string): Promise<T> {
    const { bytes } = await this.#request(method, path, { idempotent: true });
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  }

  /** Models the service runs (unverified summary; use {@link getModel} before trusting one). */
  listModels(): Promise<ModelListBody> {
    return this.#json('GET', '/v1/models');
  }

  /** A model's client bundle, verified against the trusted publisher keys (cached). */
  async getModel(modelId: string): Promise<{ manifest: ClientManifest; modelDigest: Digest }> {
    const hit = this.#models.get(modelId);
    if (hit !== undefined) return hit;
    const doc = await this.#json<unknown>('GET', `/v1/models/${encodeURIComponent(modelId)}`);
    const v = await verifyClientBundle(doc, this.#o.trustedModelKeys);
    if (v.manifest.modelId !== modelId) {
      throw new BlindDxError(
        'MODEL_SIGNATURE_INVALID',
        `getModel: server sent model ${v.manifest.modelId} for ${modelId}`,
      );
    }
    this.#models.set(modelId, v);
    return v;
  }

  /**
   * A public client file of a verified model (e.g. its backbone ONNX), downloaded and checked against
   * the digest the signed client manifest pins: a file that differs is refused
   * (`MODEL_BUNDLE_MISMATCH`), whatever the server claims.
   */
  async getModelFile(modelId: string, name: string): Promise<Uint8Array> {
    const { manifest } = await this.getModel(modelId);
    const want = Object.hasOwn(manifest.files, name) ? manifest.files[name] : undefined;
    if (want === undefined) {
      throw new BlindDxError(
        'MODEL_BUNDLE_MISMATCH',
        `getModelFile: model ${modelId} does not pin a file ${name}`,
      );
    }
    const { bytes } = await this.#request(
      'GET',
      `/v1/models/${encodeURIComponent(modelId)}/files/${encodeURIComponent(name)}`,
      { idempotent: true },
    );
    if ((await sha256Digest(bytes)) !== want) {
      throw new BlindDxError(
        'MODEL_BUNDLE_MISMATCH',
        `getModelFile: ${name} of model ${modelId} does not match the signed digest ${want}`,
      );
    }
    return bytes;
  }

  async #keys(): Promise<readonly PublicKeyJwk[]> {
    if (this.#serverKeys === undefined) {
      const body = await this.#json<ServerKeyBody>('GET', '/v1/server-key');
      this.#serverKeys = await Promise.all(body.keys.map((k, i) => parsePublicKey(k, `server key ${i}`)));
    }
    return this.#serverKeys;
  }

  /** Registers public evaluation material for a model; returns the new client id. */
  async register(modelId: string, material: KeyMaterialUpload): Promise<ClientRegisteredBody> {
    await this.getModel(modelId);
    const parts = [
      { name: 'meta', bytes: new TextEncoder().encode(JSON.stringify({ modelId })) },
      { name: 'publicKey', bytes: material.publicKey },
      ...(material.relinKeys === undefined ? [] : [{ name: 'relinKeys', bytes: material.relinKeys }]),
      ...(material.galoisKeys === undefined ? [] : [{ name: 'galoisKeys', bytes: material.galoisKeys }]),
    ];
    // Not idempotent (a repeat would create a second client): only retried when the server refused it.
    const { bytes } = await this.#request('POST', '/v1/clients', {
      body: encodeParts(parts),
      contentType: CONTENT_TYPE_PARTS,
      idempotent: false,
    });
    return JSON.parse(new TextDecoder().decode(bytes));
  }

  /** Deletes a client and its key material on the server. */
  async deleteClient(clientId: string): Promise<void> {
    await this.#request('DELETE', `/v1/clients/${encodeURIComponent(clientId)}`, { idempotent: true });
  }

  /**
   * Sends one ciphertext, or several as a batch, and returns the verified result ciphertexts.
   * Pass `idempotencyKey` to make a retry across process restarts return the same result.
   */
  async infer(req: {
    modelId: string;
    clientId: string;
    inputs: readonly Uint8Array[];
    idempotencyKey?: string;
    /** Extra request headers, e.g. the model kind the inputs were encrypted for (`x-blinddx-model-kind`). */
    headers?: Readonly<Record<string, string>>;
    /**
     * One request whose answer has `outputs` ciphertexts, named "0", "1", … (a window-packed CNN:
     * the layout's inputs in, its outputs back); always sent as a parts container.
     */
    outputs?: number;
  }): Promise<InferResult> {
    if (req.inputs.length === 0) throw new TypeError('infer: "inputs" expected at least one ciphertext');
    const model = await this.getModel(req.modelId);
    const serverKeys = await this.#keys();
    const batch = req.inputs.length > 1 || req.outputs !== undefined;
    const body = batch
      ? encodeParts(req.inputs.map((bytes, i) => ({ name: String(i), bytes })))
      : req.inputs[0];
    const { res, bytes, attempts } = await this.#request(
      'POST',
      `/v1/infer/${encodeURIComponent(req.modelId)}`,
      {
        body,
        contentType: batch ? CONTENT_TYPE_PARTS : CONTENT_TYPE_BINARY,
        headers: {
          ...req.headers,
          [HEADER.clientId]: req.clientId,
          [HEADER.idempotencyKey]: req.idempotencyKey ?? crypto.randomUUID(),
        },
        idempotent: true,
      },
    );
    const statement = await verifyResponse({
      headers: res.headers,
      requestBody: body,
      responseBody: bytes,
      modelId: req.modelId,
      clientId: req.clientId,
      serverKeys,
      expectedModelDigest: model.modelDigest,
    });
    let results: Uint8Array[];
    if (batch) {
      const want = req.outputs ?? req.inputs.length;
      const parts = decodeParts(bytes, { maxParts: want });
      if (parts.length !== want || parts.some((p, i) => p.name !== String(i))) {
        throw new BlindDxError('BAD_REQUEST', 'infer: response parts do not match the request');
      }
      results = parts.map((p) => p.bytes);
    } else {
      results = [bytes];
    }
    return {
      results,
      statement,
      requestId: res.headers.get(HEADER.requestId),
      replay: res.headers.get(HEADER.idempotentReplay) === 'true',
      attempts,
    };
  }
}

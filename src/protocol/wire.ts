// Names shared by the service and the client SDK: content types, headers, limits' defaults.

/** One ciphertext as raw SEAL bytes. */
export const CONTENT_TYPE_BINARY = 'application/octet-stream';
/** A parts container (see `parts-container.ts`): a batch of ciphertexts or a key-material upload. */
export const CONTENT_TYPE_PARTS = 'application/vnd.blinddx.parts';

export const HEADER = Object.freeze({
  clientId: 'x-client-id',
  idempotencyKey: 'idempotency-key',
  requestId: 'x-request-id',
  modelId: 'x-blinddx-model-id',
  modelDigest: 'x-blinddx-model-digest',
  requestDigest: 'x-blinddx-request-digest',
  resultDigest: 'x-blinddx-result-digest',
  signedAt: 'x-blinddx-signed-at',
  /** `<kid>:<base64 Ed25519 signature>` over the response statement. */
  signature: 'x-blinddx-signature',
  idempotentReplay: 'x-idempotent-replay',
  retryAfter: 'retry-after',
} as const);

/** Idempotency keys: 8–128 characters of `[A-Za-z0-9._:-]` (a UUID fits). */
export const IDEMPOTENCY_KEY_RE = /^[A-Za-z0-9._:-]{8,128}$/;

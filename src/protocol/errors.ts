/**
 * The wire error catalog: one stable string code per failure, each with the HTTP status the service
 * answers with. Codes never change meaning once published; messages may.
 *
 * @example
 * throw new BlindDxError('BAD_CIPHERTEXT', 'infer: input 2 is not a SEAL ciphertext');
 */
export const ERROR_STATUS = Object.freeze({
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN_CLIENT: 403,
  NOT_FOUND: 404,
  IDEMPOTENCY_CONFLICT: 409,
  IDEMPOTENCY_IN_PROGRESS: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  BAD_CIPHERTEXT: 422,
  BAD_KEY_MATERIAL: 422,
  /** The model is of another kind than the client encrypted for (e.g. an image ciphertext sent to a split model). */
  WRONG_MODEL_KIND: 422,
  QUOTA_EXCEEDED: 429,
  INTERNAL: 500,
  /** A bundle failed verification (at load on the server, or in the client SDK). */
  MODEL_SIGNATURE_INVALID: 500,
  /** Client and server parts of a bundle, or a file and its digest, do not belong together. */
  MODEL_BUNDLE_MISMATCH: 500,
  /** The client SDK could not verify the server's signature over a response. */
  RESPONSE_SIGNATURE_INVALID: 502,
  /** Configuration file or environment is invalid (startup only, never on the wire). */
  CONFIG_INVALID: 500,
  QUEUE_FULL: 503,
  NOT_READY: 503,
  TIMEOUT: 504,
} as const);

/** A stable error code from {@link ERROR_STATUS}. */
export type ErrorCode = keyof typeof ERROR_STATUS;

/** True if `code` is one of the catalog's codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_STATUS, code);
}

/** An error that carries a stable catalog code; the server maps it to its HTTP status. */
export class BlindDxError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Seconds the caller should wait before retrying (429, 503), when known. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BlindDxError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

/** The JSON body of every error response: `{ "error": { "code", "message", "requestId" } }`. */
export interface ErrorBody {
  readonly error: { readonly code: ErrorCode; readonly message: string; readonly requestId?: string };
}

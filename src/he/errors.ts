/**
 * Stable error codes of the `he` layer. Callers (the server, the SDK) switch on `code`, never on the
 * message, so codes are part of the public contract and only ever get added.
 */
export const HE_ERROR_CODES = [
  'HE_INVALID_ARGUMENT',
  'HE_INSECURE_PARAMETERS',
  'HE_UNKNOWN_PRESET',
  'HE_NO_PRESET_FITS',
  'HE_DISPOSED',
  'HE_PRESET_MISMATCH',
  'HE_LEVEL_MISMATCH',
  'HE_SCALE_MISMATCH',
  'HE_LAYOUT_MISMATCH',
  'HE_DEPTH_EXHAUSTED',
  'HE_MISSING_RELIN_KEYS',
  'HE_MISSING_GALOIS_KEY',
  'HE_MISSING_SECRET_KEY',
  'HE_TOO_LARGE',
  'HE_MALFORMED',
  'HE_COMPRESSED',
  'HE_BAD_MAGIC',
  'HE_BAD_VERSION',
  'HE_WRONG_KIND',
  'HE_WRONG_PRESET',
  'HE_WRONG_LEVEL',
  'HE_BAD_SCALE',
  'HE_BAD_SIZE',
  'HE_NOT_NTT',
  'HE_TRANSPARENT',
  'HE_SEAL_FAILURE',
  'HE_WORKER_CRASHED',
  'HE_WORKER_TIMEOUT',
  'HE_POOL_CLOSED',
  'HE_POOL_BUSY',
  // Evaluation keys for something the caller did not ask for (an extra Galois step, unrequested
  // relinearization keys): refused so uploads cannot smuggle in key material or bloat memory.
  'HE_UNEXPECTED_KEY',
] as const;

/** One of {@link HE_ERROR_CODES}. */
export type HeErrorCode = (typeof HE_ERROR_CODES)[number];

/**
 * The only error type the `he` layer throws on purpose. Messages read "cannot X: reason" and never
 * contain key, plaintext or ciphertext bytes.
 *
 * @example
 * try { ctx.add(a, b) } catch (e) { if (e instanceof HeError && e.code === 'HE_LEVEL_MISMATCH') … }
 */
export class HeError extends Error {
  readonly code: HeErrorCode;
  constructor(code: HeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HeError';
    this.code = code;
  }
}

/** True when `e` is an {@link HeError}, optionally with the given code. */
export function isHeError(e: unknown, code?: HeErrorCode): e is HeError {
  return e instanceof HeError && (code === undefined || e.code === code);
}

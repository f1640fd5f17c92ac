/**
 * Stable error codes of the `nn` layer. Callers (CLI, server, client SDK) switch on `code`, never on
 * the message text, so codes are never renamed once published.
 */
export const NN_ERROR_CODES = [
  'NN_DATA_NOT_FOUND',
  'NN_DATA_FORMAT',
  'NN_ONNX_DECODE',
  'NN_ONNX_UNSUPPORTED',
  'NN_HEAD_INVALID',
  'NN_PREPROCESS_INVALID',
  'NN_SHAPE_MISMATCH',
  'NN_INVALID_ARGUMENT',
  'NN_MODEL_INVALID',
] as const;

/** One of {@link NN_ERROR_CODES}. */
export type NnErrorCode = (typeof NN_ERROR_CODES)[number];

/**
 * The error every `nn` public function throws for bad input.
 *
 * @example
 * ```ts
 * try { validateHeadSpec(json); } catch (e) { if (e instanceof NnError && e.code === 'NN_HEAD_INVALID') … }
 * ```
 */
export class NnError extends Error {
  readonly code: NnErrorCode;
  constructor(code: NnErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'NnError';
    this.code = code;
  }
}

/**
 * The client's image error catalog: what the image decoders (DICOM, PNG/JPEG through sharp or the
 * browser) throw when an input cannot be diagnosed. Images never leave the client, so these codes
 * never go on the wire and have no HTTP status; the CLI prints them (`blinddx <cmd>: BAD_IMAGE: …`,
 * exit 1) and the web app shows them. Codes never change meaning once published; messages may, and
 * they never contain pixel bytes.
 *
 * @example
 * throw new ImageError('UNSUPPORTED_IMAGE', 'read scan.dcm: 12 bits allocated: only 8 or 16 are supported');
 */
export const IMAGE_ERROR_CODES = Object.freeze({
  /** Not a decodable image: wrong magic, truncated, zero size, pixel data shorter than declared… */
  BAD_IMAGE: 'the file is not a readable image',
  /** A valid image of a kind the decoders refuse: compressed/big-endian DICOM, colour DICOM, odd depths. */
  UNSUPPORTED_IMAGE: 'the image is of a kind that is not supported',
  /** Declared size above {@link MAX_IMAGE_SIDE} or {@link MAX_IMAGE_SAMPLES}, or a file above
   * {@link MAX_IMAGE_FILE_BYTES}; refused before decoding. */
  IMAGE_TOO_LARGE: 'the image is larger than the decoders accept',
} as const);

/** A stable code from {@link IMAGE_ERROR_CODES}. */
export type ImageErrorCode = keyof typeof IMAGE_ERROR_CODES;

/** Largest width or height accepted (DICOM rows/columns, PNG/JPEG sides in Node). */
export const MAX_IMAGE_SIDE = 16384;

/**
 * Largest declared sample count accepted: rows × columns × frames × samples per pixel for DICOM,
 * width × height × channels for PNG/JPEG. 2^28 = one 16384² gray frame (512 MB of 16-bit pixel
 * data, 256 MB once decoded to 8 bits). Checked before anything of that size is allocated.
 */
export const MAX_IMAGE_SAMPLES = 2 ** 28;

/**
 * Largest image file read in Node (1 GiB): above the 512 MB of pixel data MAX_IMAGE_SAMPLES allows
 * at 16 bits, and below the 2 GiB a single read can return. Checked before the file is read.
 */
export const MAX_IMAGE_FILE_BYTES = 2 ** 30;

/** True if `code` is one of the image catalog's codes. */
export function isImageErrorCode(code: unknown): code is ImageErrorCode {
  return typeof code === 'string' && Object.hasOwn(IMAGE_ERROR_CODES, code);
}

/** An image the client cannot decode, with a stable {@link ImageErrorCode}. */
export class ImageError extends Error {
  readonly code: ImageErrorCode;
  constructor(code: ImageErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ImageError';
    this.code = code;
  }
}

/**
 * Refuses a declared image size before decoding: zero or non-integer sides are BAD_IMAGE, sides
 * above {@link MAX_IMAGE_SIDE} or more than {@link MAX_IMAGE_SAMPLES} samples are IMAGE_TOO_LARGE.
 */
export function checkImageSize(
  what: string,
  size: { readonly width: number; readonly height: number; readonly samples: number },
): void {
  const { width, height, samples } = size;
  const ok = (n: number) => Number.isSafeInteger(n) && n >= 1;
  if (!ok(width) || !ok(height) || !ok(samples))
    throw new ImageError(
      'BAD_IMAGE',
      `${what}: image size ${width}×${height}×${samples} is empty or invalid`,
    );
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE)
    throw new ImageError(
      'IMAGE_TOO_LARGE',
      `${what}: image size ${width}×${height} exceeds ${MAX_IMAGE_SIDE} pixels per side`,
    );
  if (width * height * samples > MAX_IMAGE_SAMPLES)
    throw new ImageError(
      'IMAGE_TOO_LARGE',
      `${what}: ${width}×${height}×${samples} = ${width * height * samples} samples exceeds the limit of ${MAX_IMAGE_SAMPLES}`,
    );
}

/**
 * Turns a picked file into 8-bit pixels, in this browser: DICOM through the shared decoder
 * (`client/dicom.ts`, dicom-parser), PNG/JPEG (anything the browser decodes) through
 * `createImageBitmap` and a canvas, without colour-space conversion or alpha premultiplication so
 * the pixels are the file's own.
 */
import { decodeDicom, looksLikeDicom } from '../../client/dicom.ts';
import { ImageError, MAX_IMAGE_FILE_BYTES } from '../../client/image-errors.ts';
import type { DecodedImage } from '../../nn/preprocess.ts';

export interface PickedImage {
  readonly image: DecodedImage;
  readonly kind: 'dicom' | 'image';
  readonly name: string;
  readonly bytes: number;
}

/** Largest side accepted (a decoded 8k×8k RGBA image is already 256 MB). */
export const MAX_SIDE = 8192;

export async function decodeImageFile(file: File): Promise<PickedImage> {
  // Bad input throws an ImageError (BAD_IMAGE, UNSUPPORTED_IMAGE, IMAGE_TOO_LARGE), shown with its code.
  if (file.size > MAX_IMAGE_FILE_BYTES)
    throw new ImageError(
      'IMAGE_TOO_LARGE',
      `${file.name}: the file is ${file.size} bytes, above ${MAX_IMAGE_FILE_BYTES}`,
    );
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (looksLikeDicom(bytes, file.name) || file.type === 'application/dicom') {
    return { image: decodeDicom(bytes, file.name), kind: 'dicom', name: file.name, bytes: bytes.length };
  }
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes]), {
      colorSpaceConversion: 'none',
      premultiplyAlpha: 'none',
    });
  } catch {
    throw new ImageError(
      'BAD_IMAGE',
      `${file.name}: not an image this browser can decode (PNG, JPEG or DICOM expected)`,
    );
  }
  try {
    const { width, height } = bitmap;
    if (width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE) {
      throw new ImageError(
        width < 1 || height < 1 ? 'BAD_IMAGE' : 'IMAGE_TOO_LARGE',
        `${file.name}: ${width}×${height} is outside 1…${MAX_SIDE} pixels per side`,
      );
    }
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    const g = canvas.getContext('2d', { willReadFrequently: true });
    if (g === null) throw new TypeError('this browser has no 2D canvas');
    g.drawImage(bitmap, 0, 0);
    const data = g.getImageData(0, 0, width, height, { colorSpace: 'srgb' }).data;
    return {
      image: { data, width, height, channels: 4 },
      kind: 'image',
      name: file.name,
      bytes: bytes.length,
    };
  } finally {
    bitmap.close();
  }
}

/** Draws a decoded image (gray or RGBA) into a canvas for the preview. */
export function drawPreview(canvas: HTMLCanvasElement, img: DecodedImage): void {
  canvas.width = img.width;
  canvas.height = img.height;
  const g = canvas.getContext('2d');
  if (g === null) return;
  const out = g.createImageData(img.width, img.height);
  const n = img.width * img.height;
  for (let i = 0; i < n; i++) {
    const o = i * img.channels;
    const gray = img.channels < 3;
    out.data[4 * i] = img.data[o];
    out.data[4 * i + 1] = gray ? img.data[o] : img.data[o + 1];
    out.data[4 * i + 2] = gray ? img.data[o] : img.data[o + 2];
    out.data[4 * i + 3] = 255;
  }
  g.putImageData(out, 0, 0);
}

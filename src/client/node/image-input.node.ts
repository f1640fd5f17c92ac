/**
 * Reads the image a user wants diagnosed into 8-bit pixels, on this machine only:
 *
 * - a dataset entry `<medmnist set>:<split>:<index>`, e.g. `pneumoniamnist:test:12`;
 * - a DICOM file (Part 10 "DICM" preamble or `.dcm`): uncompressed monochrome (MONOCHROME1/2),
 *   8 or 16 bits allocated, signed or not; rescale slope/intercept and the first window
 *   centre/width are applied when present, else the full pixel range is stretched to 0…255;
 * - any image `sharp` decodes (PNG, JPEG, WebP, TIFF…).
 *
 * A file that cannot be diagnosed throws an ImageError (`../image-errors.ts`): BAD_IMAGE (not a
 * readable image), UNSUPPORTED_IMAGE (a kind the decoders refuse) or IMAGE_TOO_LARGE (file above
 * MAX_IMAGE_FILE_BYTES, or declared size above MAX_IMAGE_SIDE / MAX_IMAGE_SAMPLES, refused before
 * the pixels are decoded).
 */
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import sharp from 'sharp';
import {
  loadMedMnist,
  MEDMNIST_CLASSES,
  type MedMnistName,
  type Split,
} from '../../nn/data/medmnist.node.ts';
import type { DecodedImage } from '../../nn/preprocess.ts';
import { decodeDicom, looksLikeDicom } from '../dicom.ts';
import { checkImageSize, ImageError, MAX_IMAGE_FILE_BYTES, MAX_IMAGE_SAMPLES } from '../image-errors.ts';

export { decodeDicom };

export interface ImageInput {
  readonly image: DecodedImage;
  /** What to show and record (a file name or the dataset entry); never pixel data. */
  readonly source: string;
  readonly kind: 'dataset' | 'dicom' | 'image';
  /** The dataset's label, for dataset entries. */
  readonly truth?: string;
}

const _entryRe = /^([a-z0-9]+):(train|val|test):(\d+)$/;

/** True when `spec` names a dataset entry rather than a file. */
export function isDatasetEntry(spec: string): boolean {
  const m = _entryRe.exec(spec);
  return m !== null && Object.hasOwn(MEDMNIST_CLASSES, m[1]);
}

function _datasetEntry(spec: string): ImageInput {
  const [, name, split, idx] = _entryRe.exec(spec)!;
  const ds = loadMedMnist(name as MedMnistName, split as Split);
  const i = Number(idx);
  if (!Number.isSafeInteger(i) || i >= ds.n) {
    throw new ImageError(
      'BAD_IMAGE',
      `read image: ${name}:${split} has ${ds.n} images, index ${idx} is out of range`,
    );
  }
  const px = ds.width * ds.height * ds.channels;
  const data = ds.images.subarray(i * px, (i + 1) * px);
  if (!(data instanceof Uint8Array))
    throw new ImageError('UNSUPPORTED_IMAGE', `read image: ${name} does not hold 8-bit images`);
  return {
    image: { data, width: ds.width, height: ds.height, channels: ds.channels as 1 | 3 },
    source: spec,
    kind: 'dataset',
    truth: MEDMNIST_CLASSES[name as MedMnistName][ds.labels[i]],
  };
}

/** Reads a dataset entry, a DICOM file or a PNG/JPEG (…) file. */
export async function readImageInput(spec: string): Promise<ImageInput> {
  if (isDatasetEntry(spec)) return _datasetEntry(spec);
  const source = basename(spec);
  const where = `read image ${source}`;
  const size = statSync(spec).size;
  if (size > MAX_IMAGE_FILE_BYTES)
    throw new ImageError(
      'IMAGE_TOO_LARGE',
      `${where}: the file is ${size} bytes, above ${MAX_IMAGE_FILE_BYTES}`,
    );
  const buf = readFileSync(spec);
  // A view, not a copy: a large DICOM file is held once.
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  if (looksLikeDicom(bytes, spec)) return { image: decodeDicom(bytes, source), source, kind: 'dicom' };
  // The header first: the declared size is checked before any pixel is decoded. One sharp
  // instance reads the header, then decodes (the documented metadata-then-pipeline pattern).
  const image = sharp(bytes, { limitInputPixels: MAX_IMAGE_SAMPLES });
  const cannotDecode = (e: unknown): never => {
    throw new ImageError('BAD_IMAGE', `${where}: cannot decode (${(e as Error).message})`);
  };
  const meta = await image.metadata().catch(cannotDecode);
  checkImageSize(where, { width: meta.width ?? 0, height: meta.height ?? 0, samples: meta.channels ?? 0 });
  const decoded = await image.raw().toBuffer({ resolveWithObject: true }).catch(cannotDecode);
  const { width, height, channels } = decoded.info;
  if (channels < 1 || channels > 4)
    throw new ImageError('UNSUPPORTED_IMAGE', `${where}: ${channels} channels (1 to 4 are supported)`);
  if (decoded.data.byteLength !== width * height * channels)
    throw new ImageError(
      'UNSUPPORTED_IMAGE',
      `${where}: decoded to ${decoded.data.byteLength} bytes for ${width}×${height}×${channels} (only 8-bit samples are supported)`,
    );
  return {
    image: {
      data: new Uint8Array(decoded.data.buffer, decoded.data.byteOffset, decoded.data.byteLength),
      width,
      height,
      channels: channels as 1 | 2 | 3 | 4,
    },
    source,
    kind: 'image',
  };
}

/**
 * Reads the image a user wants diagnosed into 8-bit pixels, on this machine only:
 *
 * - a dataset entry `<medmnist set>:<split>:<index>`, e.g. `pneumoniamnist:test:12`;
 * - a DICOM file (Part 10 "DICM" preamble or `.dcm`): uncompressed monochrome (MONOCHROME1/2),
 *   8 or 16 bits allocated, signed or not; rescale slope/intercept and the first window
 *   centre/width are applied when present, else the full pixel range is stretched to 0…255;
 * - any image `sharp` decodes (PNG, JPEG, WebP, TIFF…).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import dicomParser from 'dicom-parser';
import sharp, { type OutputInfo } from 'sharp';
import {
  loadMedMnist,
  MEDMNIST_CLASSES,
  type MedMnistName,
  type Split,
} from '../../nn/data/medmnist.node.ts';
import type { DecodedImage } from '../../nn/preprocess.ts';

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
    throw new RangeError(`read image: ${name}:${split} has ${ds.n} images, index ${idx} is out of range`);
  }
  const px = ds.width * ds.height * ds.channels;
  const data = ds.images.subarray(i * px, (i + 1) * px);
  if (!(data instanceof Uint8Array)) throw new TypeError(`read image: ${name} does not hold 8-bit images`);
  return {
    image: { data, width: ds.width, height: ds.height, channels: ds.channels as 1 | 3 },
    source: spec,
    kind: 'dataset',
    truth: MEDMNIST_CLASSES[name as MedMnistName][ds.labels[i]],
  };
}

function _isDicom(bytes: Uint8Array, file: string): boolean {
  const dicm = bytes.length > 132 && String.fromCharCode(...bytes.subarray(128, 132)) === 'DICM';
  return dicm || /\.dcm$/i.test(file);
}

/** Decodes an uncompressed monochrome DICOM image (8 or 16 bits) to 8-bit gray. */
export function decodeDicom(bytes: Uint8Array, what = 'DICOM'): DecodedImage {
  let ds: dicomParser.DataSet;
  try {
    ds = dicomParser.parseDicom(bytes);
  } catch (e) {
    throw new TypeError(`read ${what}: not a readable DICOM file (${(e as Error)?.message ?? String(e)})`);
  }
  const bad = (why: string): never => {
    throw new TypeError(`read ${what}: ${why}`);
  };
  const ts = ds.string('x00020010') ?? '1.2.840.10008.1.2';
  // Implicit/explicit little endian (and deflated would need inflating: refused).
  if (!['1.2.840.10008.1.2', '1.2.840.10008.1.2.1'].includes(ts.trim()))
    bad(`transfer syntax ${ts} (compressed or big-endian) is not supported; export uncompressed`);
  const rows = ds.uint16('x00280010') ?? 0;
  const cols = ds.uint16('x00280011') ?? 0;
  const spp = ds.uint16('x00280002') ?? 1;
  const bits = ds.uint16('x00280100') ?? 0;
  const signed = (ds.uint16('x00280103') ?? 0) === 1;
  const photometric = (ds.string('x00280004') ?? 'MONOCHROME2').trim();
  if (rows < 1 || cols < 1 || rows > 16384 || cols > 16384) bad(`image size ${cols}×${rows} is out of range`);
  if (spp !== 1 || !photometric.startsWith('MONOCHROME'))
    bad(`${photometric} with ${spp} samples per pixel: only monochrome images are supported`);
  if (bits !== 8 && bits !== 16) bad(`${bits} bits allocated: only 8 or 16 are supported`);
  const el = ds.elements.x7fe00010;
  if (el === undefined) bad('no pixel data');
  const n = rows * cols;
  if (el.length < n * (bits / 8)) bad(`pixel data holds ${el.length} bytes, ${n * (bits / 8)} needed`);
  const dv = new DataView(ds.byteArray.buffer, ds.byteArray.byteOffset + el.dataOffset, n * (bits / 8));
  const slope = ds.floatString('x00281053') ?? 1;
  const intercept = ds.floatString('x00281052') ?? 0;
  const raw = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v =
      bits === 8
        ? signed
          ? dv.getInt8(i)
          : dv.getUint8(i)
        : signed
          ? dv.getInt16(2 * i, true)
          : dv.getUint16(2 * i, true);
    raw[i] = v * slope + intercept;
  }
  let lo: number;
  let hi: number;
  const centre = ds.floatString('x00281050');
  const width = ds.floatString('x00281051');
  if (centre !== undefined && width !== undefined && width > 1) {
    lo = centre - 0.5 - (width - 1) / 2;
    hi = centre - 0.5 + (width - 1) / 2;
  } else {
    lo = Number.POSITIVE_INFINITY;
    hi = Number.NEGATIVE_INFINITY;
    for (const v of raw) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  const span = hi > lo ? hi - lo : 1;
  const out = new Uint8Array(n);
  const invert = photometric === 'MONOCHROME1';
  for (let i = 0; i < n; i++) {
    const g = Math.round(Math.min(1, Math.max(0, (raw[i] - lo) / span)) * 255);
    out[i] = invert ? 255 - g : g;
  }
  return { data: out, width: cols, height: rows, channels: 1 };
}

/** Reads a dataset entry, a DICOM file or a PNG/JPEG (…) file. */
export async function readImageInput(spec: string): Promise<ImageInput> {
  if (isDatasetEntry(spec)) return _datasetEntry(spec);
  const bytes = new Uint8Array(readFileSync(spec));
  const source = basename(spec);
  if (_isDicom(bytes, spec)) return { image: decodeDicom(bytes, source), source, kind: 'dicom' };
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    decoded = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new TypeError(`read image ${source}: cannot decode (${(e as Error).message})`);
  }
  const { width, height, channels } = decoded.info;
  if (channels < 1 || channels > 4) throw new TypeError(`read image ${source}: ${channels} channels`);
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

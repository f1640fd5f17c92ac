/**
 * DICOM decoding with web-platform APIs only (dicom-parser), shared by the Node CLI and the web app:
 * uncompressed (implicit/explicit VR little endian) monochrome (MONOCHROME1/2), 8 or 16 bits
 * allocated, signed or not; rescale slope/intercept and the first window centre/width are applied
 * when present, else the full pixel range is stretched to 0…255. Multi-frame files: the first frame.
 *
 * Memory is bounded: the declared rows × columns × frames × samples is checked against
 * MAX_IMAGE_SAMPLES before anything is allocated, and the pixels go straight to 8-bit gray through
 * a lookup table over the stored values (256 or 65536 entries), so decoding adds one byte per pixel
 * to the file it reads. Bad input throws an ImageError with a stable code (image-errors.ts).
 */
import dicomParser from 'dicom-parser';
import type { DecodedImage } from '../nn/preprocess.ts';
import { checkImageSize, ImageError } from './image-errors.ts';

/** Transfer syntaxes decoded: implicit and explicit VR little endian (uncompressed). */
const _SUPPORTED_SYNTAXES = ['1.2.840.10008.1.2', '1.2.840.10008.1.2.1'];

/** True for a DICOM Part 10 file ("DICM" at byte 128) or a file named `*.dcm`. */
export function looksLikeDicom(bytes: Uint8Array, file: string): boolean {
  const dicm = bytes.length > 132 && String.fromCharCode(...bytes.subarray(128, 132)) === 'DICM';
  return dicm || /\.dcm$/i.test(file);
}

/** dicom-parser throws strings, Errors or `{ exception, dataSet }`: its reason as text. */
function _reason(e: unknown): string {
  if (typeof e === 'string') return e;
  if (e instanceof Error) return e.message;
  const ex = (e as { exception?: unknown } | null)?.exception;
  return typeof ex === 'string' ? ex : 'unknown parser error';
}

/** Decodes an uncompressed monochrome DICOM image (8 or 16 bits) to 8-bit gray. */
export function decodeDicom(bytes: Uint8Array, what = 'DICOM'): DecodedImage {
  const where = `read ${what}`;
  const fail = (code: 'BAD_IMAGE' | 'UNSUPPORTED_IMAGE', why: string): never => {
    throw new ImageError(code, `${where}: ${why}`);
  };
  // The transfer syntax comes from the Part 10 header, before the body is parsed: a compressed or
  // big-endian body may not even parse, and it should be refused as unsupported, not as garbage.
  let ts: string;
  try {
    ts = (dicomParser.readPart10Header(bytes).string('x00020010') ?? '1.2.840.10008.1.2').trim();
  } catch (e) {
    return fail('BAD_IMAGE', `not a readable DICOM file (${_reason(e)})`);
  }
  if (!_SUPPORTED_SYNTAXES.includes(ts))
    fail(
      'UNSUPPORTED_IMAGE',
      `transfer syntax ${ts} (compressed or big-endian) is not supported; export uncompressed`,
    );
  let ds: dicomParser.DataSet;
  try {
    ds = dicomParser.parseDicom(bytes);
  } catch (e) {
    return fail('BAD_IMAGE', `not a readable DICOM file (${_reason(e)})`);
  }
  const rows = ds.uint16('x00280010') ?? 0;
  const cols = ds.uint16('x00280011') ?? 0;
  const spp = ds.uint16('x00280002') ?? 1;
  const framesText = ds.string('x00280008');
  const frames = framesText === undefined || framesText.trim() === '' ? 1 : Number(framesText);
  const bits = ds.uint16('x00280100') ?? 0;
  const signed = (ds.uint16('x00280103') ?? 0) === 1;
  const photometric = (ds.string('x00280004') ?? 'MONOCHROME2').trim();
  checkImageSize(where, { width: cols, height: rows, samples: frames * spp });
  if (spp !== 1 || !photometric.startsWith('MONOCHROME'))
    fail(
      'UNSUPPORTED_IMAGE',
      `${photometric} with ${spp} samples per pixel: only monochrome images are supported`,
    );
  if (bits === 0) fail('BAD_IMAGE', 'no bits allocated (0028,0100)');
  if (bits !== 8 && bits !== 16)
    fail('UNSUPPORTED_IMAGE', `${bits} bits allocated: only 8 or 16 are supported`);
  const el = ds.elements.x7fe00010;
  if (el === undefined) return fail('BAD_IMAGE', 'no pixel data');
  const n = rows * cols;
  const need = n * frames * (bits / 8);
  const held = Math.min(el.length, ds.byteArray.length - el.dataOffset);
  if (!(held >= need)) fail('BAD_IMAGE', `pixel data holds ${Math.max(0, held)} bytes, ${need} needed`);
  const slope = ds.floatString('x00281053') ?? 1;
  const intercept = ds.floatString('x00281052') ?? 0;
  if (!Number.isFinite(slope) || !Number.isFinite(intercept))
    fail('BAD_IMAGE', 'rescale slope/intercept (0028,1053/1052) is not a number');

  // The first frame's stored codes (unsigned bit patterns), without copying them.
  const offset = ds.byteArray.byteOffset + el.dataOffset;
  const codes = _codes(ds.byteArray.buffer, offset, n, bits as 8 | 16);
  const size = bits === 8 ? 256 : 65536;
  const value = (c: number) => (signed ? (bits === 8 ? (c << 24) >> 24 : (c << 16) >> 16) : c);

  let lo: number;
  let hi: number;
  const centre = ds.floatString('x00281050');
  const width = ds.floatString('x00281051');
  if (centre !== undefined && width !== undefined && Number.isFinite(centre) && width > 1) {
    lo = centre - 0.5 - (width - 1) / 2;
    hi = centre - 0.5 + (width - 1) / 2;
  } else {
    // The range of the rescaled values present: mark the codes that occur, then rescale each once.
    const seen = new Uint8Array(size);
    for (let i = 0; i < n; i++) seen[codes(i)] = 1;
    lo = Number.POSITIVE_INFINITY;
    hi = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < size; c++) {
      if (seen[c] === 0) continue;
      const v = value(c) * slope + intercept;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  const span = hi > lo ? hi - lo : 1;
  const invert = photometric === 'MONOCHROME1';
  const lut = new Uint8Array(size);
  for (let c = 0; c < size; c++) {
    const g = Math.round(Math.min(1, Math.max(0, (value(c) * slope + intercept - lo) / span)) * 255);
    lut[c] = invert ? 255 - g : g;
  }
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = lut[codes(i)];
  return { data: out, width: cols, height: rows, channels: 1 };
}

const _littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reader of the i-th stored code: a typed-array view when aligned and little-endian, else a DataView. */
function _codes(buffer: ArrayBufferLike, offset: number, n: number, bits: 8 | 16): (i: number) => number {
  if (bits === 8) {
    const a = new Uint8Array(buffer, offset, n);
    return (i) => a[i];
  }
  if (_littleEndian && offset % 2 === 0) {
    const a = new Uint16Array(buffer, offset, n);
    return (i) => a[i];
  }
  const dv = new DataView(buffer, offset, 2 * n);
  return (i) => dv.getUint16(2 * i, true);
}

/**
 * DICOM decoding with web-platform APIs only (dicom-parser), shared by the Node CLI and the web app:
 * uncompressed monochrome (MONOCHROME1/2), 8 or 16 bits allocated, signed or not; rescale
 * slope/intercept and the first window centre/width are applied when present, else the full pixel
 * range is stretched to 0…255.
 */
import dicomParser from 'dicom-parser';
import type { DecodedImage } from '../nn/preprocess.ts';

/** True for a DICOM Part 10 file ("DICM" at byte 128) or a file named `*.dcm`. */
export function looksLikeDicom(bytes: Uint8Array, file: string): boolean {
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

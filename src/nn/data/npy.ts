import { NnError } from '../errors.ts';

/** A parsed `.npy` array (format v1–v3, little endian, C order). */
export interface NpyArray {
  readonly dtype: 'u1' | 'i8' | 'i4' | 'f4' | 'f8';
  readonly shape: number[];
  readonly data: Uint8Array | Int32Array | Float32Array | Float64Array | BigInt64Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/**
 * Parses one `.npy` file. Copies the payload so the result is aligned regardless of the header length.
 *
 * @example
 * ```ts
 * const { shape, data } = parseNpy(bytes); // shape [N, 28, 28], data Uint8Array
 * ```
 */
export function parseNpy(bytes: Uint8Array, what = 'npy'): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new NnError('NN_DATA_FORMAT', `parseNpy(${what}): not an .npy file (bad magic)`);
  }
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new NnError('NN_DATA_FORMAT', `parseNpy(${what}): unreadable header ${JSON.stringify(header)}`);
  }
  if (fortran === 'True') throw new NnError('NN_DATA_FORMAT', `parseNpy(${what}): Fortran order unsupported`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const dtypeMap: Record<string, NpyArray['dtype']> = {
    '|u1': 'u1',
    '<u1': 'u1',
    '<i8': 'i8',
    '<i4': 'i4',
    '<f4': 'f4',
    '<f8': 'f8',
  };
  const dtype = dtypeMap[descr];
  if (dtype === undefined)
    throw new NnError('NN_DATA_FORMAT', `parseNpy(${what}): dtype ${descr} unsupported`);
  const size = { u1: 1, i4: 4, i8: 8, f4: 4, f8: 8 }[dtype];
  const off = start + headerLen;
  if (bytes.length < off + count * size) {
    throw new NnError('NN_DATA_FORMAT', `parseNpy(${what}): payload shorter than shape ${shapeText}`);
  }
  // slice() copies into a fresh, aligned buffer.
  const payload = bytes.slice(off, off + count * size).buffer;
  const data =
    dtype === 'u1'
      ? new Uint8Array(payload)
      : dtype === 'i4'
        ? new Int32Array(payload)
        : dtype === 'i8'
          ? new BigInt64Array(payload)
          : dtype === 'f4'
            ? new Float32Array(payload)
            : new Float64Array(payload);
  return { dtype, shape, data };
}

/** Converts an integer label array of any supported dtype to uint8 (class ids < 256). */
export function npyToUint8(arr: NpyArray, what = 'npy'): Uint8Array {
  if (arr.data instanceof Uint8Array) return arr.data;
  const out = new Uint8Array(arr.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = Number(arr.data[i]);
    if (!Number.isInteger(v) || v < 0 || v > 255) {
      throw new NnError('NN_DATA_FORMAT', `npyToUint8(${what}): value ${v} at ${i} is not a uint8`);
    }
    out[i] = v;
  }
  return out;
}

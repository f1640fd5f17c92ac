import { readFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { NnError } from '../errors.ts';
import { type NpyArray, parseNpy } from './npy.ts';

/**
 * Lists the entries of a ZIP archive through its central directory (the local headers of numpy's
 * writer carry zip64 placeholders instead of sizes, so the central directory is the reliable source).
 */
export function readZipEntries(bytes: Uint8Array, what = 'zip'): Map<string, Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  // The end-of-central-directory record sits in the last 22 + 65535 (max comment) bytes.
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new NnError('NN_DATA_FORMAT', `readZipEntries(${what}): no end of central directory`);
  const count = view.getUint16(eocd + 10, true);
  let p = view.getUint32(eocd + 16, true);
  const out = new Map<string, Uint8Array>();
  const dec = new TextDecoder();
  for (let e = 0; e < count; e++) {
    if (view.getUint32(p, true) !== 0x02014b50) {
      throw new NnError('NN_DATA_FORMAT', `readZipEntries(${what}): bad central header at ${p}`);
    }
    const method = view.getUint16(p + 10, true);
    let compSize = view.getUint32(p + 20, true);
    let size = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    let local = view.getUint32(p + 42, true);
    const name = dec.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // zip64 extra field (id 1) holds the 64-bit values of whichever fields are 0xFFFFFFFF, in order.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = view.getUint16(x, true);
      const len = view.getUint16(x + 2, true);
      if (id === 1) {
        let q = x + 4;
        if (size === 0xffffffff) {
          size = Number(view.getBigUint64(q, true));
          q += 8;
        }
        if (compSize === 0xffffffff) {
          compSize = Number(view.getBigUint64(q, true));
          q += 8;
        }
        if (local === 0xffffffff) local = Number(view.getBigUint64(q, true));
      }
      x += 4 + len;
    }
    if (view.getUint32(local, true) !== 0x04034b50) {
      throw new NnError('NN_DATA_FORMAT', `readZipEntries(${what}): bad local header for ${name}`);
    }
    const dataStart = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    const raw = bytes.subarray(dataStart, dataStart + compSize);
    let data: Uint8Array;
    if (method === 0) data = raw;
    else if (method === 8) data = new Uint8Array(inflateRawSync(raw));
    else throw new NnError('NN_DATA_FORMAT', `readZipEntries(${what}): compression ${method} unsupported`);
    if (data.length !== size) {
      throw new NnError(
        'NN_DATA_FORMAT',
        `readZipEntries(${what}): ${name} inflated to ${data.length} != ${size}`,
      );
    }
    out.set(name, data);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

/**
 * Reads a numpy `.npz` file into arrays keyed by name (without the `.npy` suffix).
 *
 * @example
 * ```ts
 * const arrays = readNpz('/data/medmnist/breastmnist.npz'); arrays.get('train_images')!.shape // [546, 28, 28]
 * ```
 */
export function readNpz(path: string): Map<string, NpyArray> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new NnError('NN_DATA_NOT_FOUND', `readNpz: cannot read ${path}`, { cause: e });
  }
  const out = new Map<string, NpyArray>();
  for (const [name, data] of readZipEntries(bytes, path)) {
    out.set(name.replace(/\.npy$/, ''), parseNpy(data, `${path}:${name}`));
  }
  return out;
}

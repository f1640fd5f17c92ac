/**
 * A small length-prefixed binary container for several named binary parts (a batch of
 * ciphertexts, or a client's public key + relinearization keys + Galois keys). No compression, no
 * nesting, every length checked against the buffer before use.
 *
 * ```
 * offset 0   "BDXP"                magic
 *        4   u8 version = 1, 3 zero bytes
 *        8   u32 LE part count
 *       12   per part: u16 LE name length, name (UTF-8), u32 LE byte length, bytes
 * ```
 */
import { BlindDxError } from './errors.ts';

const _magic = [0x42, 0x44, 0x58, 0x50]; // "BDXP"
const _nameRe = /^[A-Za-z0-9._-]{1,64}$/;

/** One named part. `bytes` of a decoded part is a view into the input buffer. */
export interface Part {
  readonly name: string;
  readonly bytes: Uint8Array;
}

/**
 * Encodes parts into one buffer.
 *
 * @example
 * const body = encodeParts([{ name: '0', bytes: ct0 }, { name: '1', bytes: ct1 }]);
 */
export function encodeParts(parts: readonly Part[]): Uint8Array {
  const enc = new TextEncoder();
  const names = parts.map((p) => {
    if (!_nameRe.test(p.name))
      throw new TypeError(`encodeParts: part name "${p.name}" is not [A-Za-z0-9._-]{1,64}`);
    return enc.encode(p.name);
  });
  const total = 12 + parts.reduce((n, p, i) => n + 2 + names[i].length + 4 + p.bytes.length, 0);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  out.set(_magic, 0);
  out[4] = 1;
  dv.setUint32(8, parts.length, true);
  let o = 12;
  parts.forEach((p, i) => {
    dv.setUint16(o, names[i].length, true);
    out.set(names[i], o + 2);
    o += 2 + names[i].length;
    dv.setUint32(o, p.bytes.length, true);
    out.set(p.bytes, o + 4);
    o += 4 + p.bytes.length;
  });
  return out;
}

/** Decodes a container; throws `BAD_REQUEST` naming the first problem. Names must be unique. */
export function decodeParts(buf: Uint8Array, options: { maxParts: number }): Part[] {
  const bad: (why: string) => never = (why) => {
    throw new BlindDxError('BAD_REQUEST', `cannot decode parts container: ${why}`);
  };
  if (buf.length < 12) bad(`${buf.length} bytes is shorter than the 12-byte header`);
  if (_magic.some((b, i) => buf[i] !== b)) bad('magic is not "BDXP"');
  if (buf[4] !== 1 || buf[5] !== 0 || buf[6] !== 0 || buf[7] !== 0) bad(`unsupported version ${buf[4]}`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const count = dv.getUint32(8, true);
  if (count === 0) bad('no parts');
  if (count > options.maxParts) bad(`${count} parts exceeds the limit of ${options.maxParts}`);
  const dec = new TextDecoder('utf-8', { fatal: true });
  const parts: Part[] = [];
  const seen = new Set<string>();
  let o = 12;
  for (let i = 0; i < count; i++) {
    if (o + 2 > buf.length) bad(`part ${i}: truncated name length`);
    const nl = dv.getUint16(o, true);
    if (o + 2 + nl + 4 > buf.length) bad(`part ${i}: truncated name`);
    let name = '';
    try {
      name = dec.decode(buf.subarray(o + 2, o + 2 + nl));
    } catch {
      bad(`part ${i}: name is not UTF-8`);
    }
    if (!_nameRe.test(name)) bad(`part ${i}: name is not [A-Za-z0-9._-]{1,64}`);
    if (seen.has(name)) bad(`part ${i}: duplicate name "${name}"`);
    seen.add(name);
    o += 2 + nl;
    const len = dv.getUint32(o, true);
    o += 4;
    if (o + len > buf.length) bad(`part "${name}": ${len} bytes run past the end`);
    parts.push({ name, bytes: buf.subarray(o, o + len) });
    o += len;
  }
  if (o !== buf.length) bad(`${buf.length - o} trailing bytes after the last part`);
  return parts;
}

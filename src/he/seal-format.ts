import { HeError } from './errors.ts';

/**
 * The byte layout of SEAL 4.1 serializations, read and written without SEAL so untrusted bytes
 * can be checked before SEAL parses them, and so coefficient-form plaintexts (which SEAL's API
 * cannot build) can be assembled.
 *
 * ```
 * SEALHeader (16 B): magic u16=0xA15E | header_size u8=16 | major u8=4 | minor u8 | compr u8 | reserved u16 | size u64
 * Ciphertext:  header | parms_id 4×u64 | is_ntt u8 | size u64 | N u64 | L u64 | scale f64 | correction u64 | DynArray
 * Plaintext:   header | parms_id 4×u64 | coeff_count u64 | scale f64 | DynArray
 * DynArray:    header | count u64 | count × u64 (poly-major, then RNS prime, then coefficient)
 * ```
 * A seeded ciphertext stores only c0 in the DynArray, followed by the PRNG seed for c1.
 */
export const SEAL_MAGIC = 0xa15e;
export const SEAL_HEADER_BYTES = 16;

/** Compression modes as SEAL numbers them. */
export const SEAL_COMPRESSION = Object.freeze({ none: 0, zlib: 1, zstd: 2 });

/** The parsed fixed header of any SEAL serialization. */
export interface SealHeader {
  readonly major: number;
  readonly minor: number;
  readonly compression: number;
  readonly size: number;
}

/** Fields of a serialized ciphertext readable without SEAL (no compression). */
export interface SealCiphertextFields {
  readonly parmsId: readonly bigint[];
  readonly isNtt: boolean;
  readonly size: number;
  readonly polyModulusDegree: number;
  readonly coeffModulusSize: number;
  readonly scale: number;
  readonly correctionFactor: bigint;
  /** Number of u64 coefficients stored (half for a seeded ciphertext). */
  readonly storedCount: number;
  /** Byte offset of the first stored coefficient. */
  readonly dataOffset: number;
}

const CT_DATA_OFFSET = 16 + 32 + 1 + 8 + 8 + 8 + 8 + 8 + 16 + 8; // 113
const PT_DATA_OFFSET = 16 + 32 + 8 + 8 + 16 + 8; // 88

function malformed(what: string, reason: string): never {
  throw new HeError('HE_MALFORMED', `cannot read ${what}: ${reason}`);
}

/** Parses and checks a SEAL header; throws `HE_BAD_MAGIC`, `HE_BAD_VERSION`, `HE_MALFORMED`. */
export function readSealHeader(bytes: Uint8Array, what = 'SEAL object'): SealHeader {
  if (bytes.length < SEAL_HEADER_BYTES)
    malformed(what, `${bytes.length} bytes is shorter than a SEAL header`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint16(0, true) !== SEAL_MAGIC) {
    throw new HeError('HE_BAD_MAGIC', `cannot read ${what}: not a SEAL serialization (bad magic)`);
  }
  if (v.getUint8(2) !== SEAL_HEADER_BYTES) malformed(what, 'unexpected SEAL header size');
  const major = v.getUint8(3);
  const minor = v.getUint8(4);
  if (major !== 4)
    throw new HeError('HE_BAD_VERSION', `cannot read ${what}: SEAL format ${major}.${minor}, expected 4.x`);
  const compression = v.getUint8(5);
  if (compression > 2) malformed(what, `unknown compression mode ${compression}`);
  if (v.getUint16(6, true) !== 0) malformed(what, 'reserved header bytes are not zero');
  const size = v.getBigUint64(8, true);
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) malformed(what, 'declared size is absurd');
  return { major, minor, compression, size: Number(size) };
}

/** Reads the metadata of an uncompressed ciphertext serialization without SEAL. */
export function readCiphertextFields(bytes: Uint8Array): SealCiphertextFields {
  const h = readSealHeader(bytes, 'ciphertext');
  if (h.compression !== SEAL_COMPRESSION.none) {
    throw new HeError(
      'HE_COMPRESSED',
      'cannot read ciphertext: compressed payloads are refused (decompression bomb risk)',
    );
  }
  if (h.size !== bytes.length)
    malformed('ciphertext', `header declares ${h.size} bytes, got ${bytes.length}`);
  if (bytes.length < CT_DATA_OFFSET) malformed('ciphertext', 'truncated before the coefficient data');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const parmsId = [0, 1, 2, 3].map((i) => v.getBigUint64(16 + 8 * i, true));
  const nttByte = v.getUint8(48);
  if (nttByte > 1) malformed('ciphertext', 'NTT flag is not a boolean');
  const u64 = (off: number) => {
    const x = v.getBigUint64(off, true);
    if (x > 1n << 32n) malformed('ciphertext', `field at byte ${off} is out of range`);
    return Number(x);
  };
  const size = u64(49);
  const polyModulusDegree = u64(57);
  const coeffModulusSize = u64(65);
  const scale = v.getFloat64(73, true);
  const correctionFactor = v.getBigUint64(81, true);
  const inner = readSealHeader(bytes.subarray(89), 'ciphertext data');
  if (inner.compression !== SEAL_COMPRESSION.none) {
    throw new HeError('HE_COMPRESSED', 'cannot read ciphertext: compressed payloads are refused');
  }
  const storedCount = u64(105);
  if (CT_DATA_OFFSET + storedCount * 8 > bytes.length)
    malformed('ciphertext', 'coefficient data is truncated');
  return {
    parmsId,
    isNtt: nttByte === 1,
    size,
    polyModulusDegree,
    coeffModulusSize,
    scale,
    correctionFactor,
    storedCount,
    dataOffset: CT_DATA_OFFSET,
  };
}

function writeHeader(v: DataView, at: number, size: number): void {
  v.setUint16(at, SEAL_MAGIC, true);
  v.setUint8(at + 2, SEAL_HEADER_BYTES);
  v.setUint8(at + 3, 4);
  v.setUint8(at + 4, 1);
  v.setUint8(at + 5, 0);
  v.setUint16(at + 6, 0, true);
  v.setBigUint64(at + 8, BigInt(size), true);
}

/**
 * Builds an uncompressed size-`polys` ciphertext serialization holding `data` (poly-major RNS
 * coefficients). Used to move coefficient vectors in and out of the NTT domain through SEAL.
 */
export function writeCiphertextBytes(args: {
  parmsId: readonly bigint[];
  isNtt: boolean;
  polys: number;
  n: number;
  l: number;
  scale: number;
  data: BigUint64Array;
}): Uint8Array {
  const { parmsId, isNtt, polys, n, l, scale, data } = args;
  if (data.length !== polys * n * l) {
    throw new HeError('HE_INVALID_ARGUMENT', 'cannot write ciphertext: data length does not match polys×N×L');
  }
  const total = CT_DATA_OFFSET + data.length * 8;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  writeHeader(v, 0, total);
  for (let i = 0; i < 4; i++) v.setBigUint64(16 + 8 * i, parmsId[i], true);
  v.setUint8(48, isNtt ? 1 : 0);
  v.setBigUint64(49, BigInt(polys), true);
  v.setBigUint64(57, BigInt(n), true);
  v.setBigUint64(65, BigInt(l), true);
  v.setFloat64(73, scale, true);
  v.setBigUint64(81, 1n, true);
  writeHeader(v, 89, 16 + 8 + data.length * 8);
  v.setBigUint64(105, BigInt(data.length), true);
  new Uint8Array(out.buffer, CT_DATA_OFFSET).set(
    new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  );
  return out;
}

/** Builds an uncompressed NTT-form plaintext serialization (CKKS) from RNS coefficients. */
export function writePlaintextBytes(args: {
  parmsId: readonly bigint[];
  scale: number;
  data: BigUint64Array;
}): Uint8Array {
  const { parmsId, scale, data } = args;
  const total = PT_DATA_OFFSET + data.length * 8;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  writeHeader(v, 0, total);
  for (let i = 0; i < 4; i++) v.setBigUint64(16 + 8 * i, parmsId[i], true);
  v.setBigUint64(48, BigInt(data.length), true);
  v.setFloat64(56, scale, true);
  writeHeader(v, 64, 16 + 8 + data.length * 8);
  v.setBigUint64(80, BigInt(data.length), true);
  new Uint8Array(out.buffer, PT_DATA_OFFSET).set(
    new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  );
  return out;
}

/** The u64 coefficients of an uncompressed plaintext serialization (a copy). */
export function readPlaintextData(bytes: Uint8Array): BigUint64Array {
  const h = readSealHeader(bytes, 'plaintext');
  if (h.compression !== SEAL_COMPRESSION.none)
    throw new HeError('HE_COMPRESSED', 'cannot read plaintext: compressed');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = Number(v.getBigUint64(80, true));
  if (PT_DATA_OFFSET + count * 8 > bytes.length) malformed('plaintext', 'coefficient data is truncated');
  return new BigUint64Array(bytes.slice(PT_DATA_OFFSET, PT_DATA_OFFSET + count * 8).buffer);
}

/** The u64 coefficients of an uncompressed, unseeded ciphertext serialization (a copy). */
export function readCiphertextData(bytes: Uint8Array): BigUint64Array {
  const f = readCiphertextFields(bytes);
  return new BigUint64Array(bytes.slice(f.dataOffset, f.dataOffset + f.storedCount * 8).buffer);
}

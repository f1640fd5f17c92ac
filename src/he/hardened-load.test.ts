import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { deflateSync } from 'node:zlib';
import { HeContext } from './context.ts';
import { decrypt, encryptPublic, encryptSymmetric, encryptSymmetricSeeded, saveCiphertext } from './crypt.ts';
import { decodeSlots, encodeSlots } from './encoder.ts';
import { ENVELOPE_KINDS, wrap, wrapList, wrapPublicMaterial } from './envelope.ts';
import { type HeErrorCode, isHeError } from './errors.ts';
import { Evaluator } from './evaluator.ts';
import type { Ciphertext } from './handles.ts';
import {
  type CiphertextExpectations,
  ciphertextByteLength,
  galoisElement,
  loadCiphertext,
  loadCiphertextBatchEnvelope,
  loadCiphertextEnvelope,
  loadEvaluationKeys,
  loadPublicMaterialEnvelope,
  maxCiphertextBytes,
  maxEvaluationKeyBytes,
} from './hardened-load.ts';
import { generateKeys, type KeySet, type PublicMaterial } from './keys.ts';
import type { Layout } from './layout.ts';
import { readCiphertextData, writeCiphertextBytes } from './seal-format.ts';

// Byte offsets inside an uncompressed SEAL ciphertext (see seal-format.ts).
const AT = {
  magic: 0,
  headerSize: 2,
  major: 3,
  minor: 4,
  compression: 5,
  reserved: 6,
  declaredSize: 8,
  parmsId: 16,
  ntt: 48,
  size: 49,
  n: 57,
  l: 65,
  scale: 73,
  correction: 81,
  innerHeader: 89,
  innerCompression: 94,
  count: 105,
  data: 113,
} as const;

const STEPS = [1, -1, 2];
const VALUES = [0.5, -1.25, 2, 3.5, -4, 0.125, 7, -0.75];

interface Fixtures {
  ctx: HeContext; // ckks-4096-d1: the context under attack
  ctx8: HeContext; // ckks-8192-d2: source of foreign-preset bytes and second round-trip preset
  keys: KeySet;
  keys8: KeySet;
  pub: PublicMaterial;
  layout: Layout;
  good: Uint8Array; // unseeded, top level
  seeded: Uint8Array;
  level0: Uint8Array; // mod-switched to level 0
  size3Level0: Uint8Array; // multiplied (not relinearized) then rescaled: size 3 at level 0
  size3Top: Uint8Array; // multiplied, not relinearized, top level
  nonNtt: Uint8Array;
  foreign8Level0: Uint8Array; // ckks-8192-d2 ciphertext at level 0: same byte length as a 4096 ciphertext
  foreign4: Uint8Array; // ckks-4096-d1 ciphertext, for loading into ckks-8192-d2
  zlib: Uint8Array;
  zstd: Uint8Array;
  pkZlib: Uint8Array;
  rkZstd: Uint8Array;
  gkZlib: Uint8Array;
  gkExtra: Uint8Array; // steps 1, -1, 2, 5
  gkMissing: Uint8Array; // steps 1, -1
  gkAllPowers: Uint8Array; // SEAL's default: all powers of two, unseeded
  pkUnseeded: Uint8Array;
  rkFrom8: Uint8Array;
  pkFrom8: Uint8Array;
}

let fx: Fixtures;
const expectTop = (): CiphertextExpectations => ({
  layout: fx.layout,
  level: fx.ctx.maxLevel,
  scale: fx.ctx.defaultScale,
});
const expectAny = (): CiphertextExpectations => ({ layout: fx.layout });

function raw(ct: Ciphertext, mode: 'none' | 'zlib' | 'zstd' = 'none'): Uint8Array {
  const seal = ct.context._seal;
  return new Uint8Array(ct._raw.saveToArray(seal.ComprModeType[mode]) as Uint8Array);
}

function concat(...parts: ArrayLike<number>[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function patch(bytes: Uint8Array, f: (v: DataView, b: Uint8Array) => void): Uint8Array {
  const c = bytes.slice();
  f(new DataView(c.buffer), c);
  return c;
}
const setU8 = (b: Uint8Array, at: number, x: number) => patch(b, (_, c) => void (c[at] = x));
const flip = (b: Uint8Array, at: number, bit = 0) => patch(b, (_, c) => void (c[at] ^= 1 << bit));
const setF64 = (b: Uint8Array, at: number, x: number) => patch(b, (v) => v.setFloat64(at, x, true));
const setU64 = (b: Uint8Array, at: number, x: bigint) => patch(b, (v) => v.setBigUint64(at, x, true));

/** Offset of the first key ciphertext inside a KSwitchKeys serialization (relin or Galois keys). */
function firstKeyCiphertext(b: Uint8Array): number {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const slots = Number(v.getBigUint64(48, true));
  let off = 56;
  for (let i = 0; i < slots; i++, off += 8) if (v.getBigUint64(off, true) !== 0n) return off + 8;
  throw new Error('no key');
}

/** Rebuilds `good` with its second polynomial (or both) set to zero: a transparent ciphertext. */
function transparent(both: boolean): Uint8Array {
  const { ctx } = fx;
  const data = readCiphertextData(fx.good);
  const half = data.length / 2;
  data.fill(0n, both ? 0 : half);
  return writeCiphertextBytes({
    parmsId: ctx.level(ctx.maxLevel).parmsId,
    isNtt: true,
    polys: 2,
    n: ctx.params.polyModulusDegree,
    l: ctx.level(ctx.maxLevel).primes.length,
    scale: ctx.defaultScale,
    data,
  });
}

/**
 * A decompression bomb in SEAL's format: an uncompressed SEAL header announcing zlib, followed by a
 * zlib stream of `inflated` bytes (ciphertext metadata declaring a huge coefficient array, then
 * zeros). SEAL 4.1.2 would inflate it all before checking anything.
 */
function zlibBomb(inflated: number, declaredSize?: bigint): Uint8Array {
  const body = new Uint8Array(inflated);
  const v = new DataView(body.buffer);
  body.set(fx.good.subarray(AT.parmsId, AT.innerHeader), 0); // parms_id … correction factor
  body.set(fx.good.subarray(AT.innerHeader, AT.count), AT.innerHeader - 16);
  v.setBigUint64(AT.count - 16, 1n << 40n, true); // "2^40 coefficients follow"
  const z = deflateSync(body, { level: 9 });
  const out = new Uint8Array(16 + z.length);
  out.set(fx.good.subarray(0, 16));
  out[AT.compression] = 1;
  new DataView(out.buffer).setBigUint64(8, declaredSize ?? BigInt(out.length), true);
  out.set(z, 16);
  return out;
}

interface HostileCase {
  readonly name: string;
  readonly code: HeErrorCode;
  readonly run: () => unknown;
}

/** Loading `bytes` as a ciphertext into the 4096 context. */
const ct = (name: string, code: HeErrorCode, bytes: () => Uint8Array, expect = expectTop): HostileCase => ({
  name: `ciphertext: ${name}`,
  code,
  run: () => loadCiphertext(fx.ctx, bytes(), expect()),
});

/** Loading evaluation material (defaults: the honest upload) expecting relin + STEPS. */
const keysCase = (
  name: string,
  code: HeErrorCode,
  m: () => Partial<PublicMaterial>,
  expect: { relin: boolean; galoisSteps: number[] } = { relin: true, galoisSteps: STEPS },
): HostileCase => ({
  name: `keys: ${name}`,
  code,
  run: () => loadEvaluationKeys(fx.ctx, { ...fx.pub, ...m() } as PublicMaterial, expect),
});

const CASES: HostileCase[] = [
  // Size, emptiness, garbage, truncation.
  ct('empty', 'HE_MALFORMED', () => new Uint8Array(0)),
  ct('10 bytes', 'HE_MALFORMED', () => fx.good.subarray(0, 10)),
  ct('header only', 'HE_MALFORMED', () => fx.good.subarray(0, 16)),
  ct('garbage (random bytes)', 'HE_BAD_MAGIC', () => crypto.getRandomValues(new Uint8Array(4096))),
  ct('all zeros', 'HE_BAD_MAGIC', () => new Uint8Array(fx.good.length)),
  ct('truncated by one byte', 'HE_MALFORMED', () => fx.good.subarray(0, fx.good.length - 1)),
  ct('truncated to 100 bytes', 'HE_MALFORMED', () => fx.good.subarray(0, 100)),
  ct('truncated to half', 'HE_MALFORMED', () => fx.good.subarray(0, fx.good.length >> 1)),
  ct('truncated seeded (seed cut)', 'HE_MALFORMED', () => fx.seeded.subarray(0, fx.seeded.length - 40)),
  ct('oversized by one byte', 'HE_TOO_LARGE', () => concat(fx.good, [0])),
  ct('oversized 64 MiB', 'HE_TOO_LARGE', () => new Uint8Array(64 << 20)),
  ct(
    'trailing byte (level 0, within the size limit)',
    'HE_MALFORMED',
    () => concat(fx.level0, [0]),
    expectAny,
  ),
  ct(
    'declared size patched to match a trailing byte',
    'HE_MALFORMED',
    () => setU64(concat(fx.level0, [0]), AT.declaredSize, BigInt(fx.level0.length + 1)),
    expectAny,
  ),
  ct(
    'over the caller cap',
    'HE_TOO_LARGE',
    () => fx.good,
    () => ({ ...expectTop(), maxBytes: 1000 }),
  ),
  // Bit flips in the SEAL header.
  ct('flip: magic', 'HE_BAD_MAGIC', () => flip(fx.good, AT.magic)),
  ct('flip: header size byte', 'HE_MALFORMED', () => flip(fx.good, AT.headerSize)),
  ct('flip: major version', 'HE_BAD_VERSION', () => flip(fx.good, AT.major)),
  ct('minor version 9', 'HE_BAD_VERSION', () => setU8(fx.good, AT.minor, 9)),
  ct('SEAL 3.x header', 'HE_BAD_VERSION', () => setU8(setU8(fx.good, AT.major, 3), AT.minor, 6)),
  ct('compression byte 7 (unknown)', 'HE_MALFORMED', () => setU8(fx.good, AT.compression, 7)),
  ct('flip: reserved', 'HE_MALFORMED', () => flip(fx.good, AT.reserved)),
  ct('flip: declared size', 'HE_MALFORMED', () => flip(fx.good, AT.declaredSize + 2)),
  ct('declared size 2^62', 'HE_MALFORMED', () => setU64(fx.good, AT.declaredSize, 1n << 62n)),
  // Bit flips in the metadata.
  ct('flip: parms_id', 'HE_WRONG_PRESET', () => flip(fx.good, AT.parmsId + 5, 3)),
  ct('NTT flag cleared', 'HE_NOT_NTT', () => setU8(fx.good, AT.ntt, 0)),
  ct('NTT flag 2', 'HE_MALFORMED', () => setU8(fx.good, AT.ntt, 2)),
  ct('size field 3', 'HE_BAD_SIZE', () => setU64(fx.good, AT.size, 3n)),
  ct('size field 0', 'HE_BAD_SIZE', () => setU64(fx.good, AT.size, 0n)),
  ct('size field 1', 'HE_BAD_SIZE', () => setU64(fx.good, AT.size, 1n)),
  ct('size field 2^40', 'HE_MALFORMED', () => setU64(fx.good, AT.size, 1n << 40n)),
  ct('flip: ring degree', 'HE_MALFORMED', () => flip(fx.good, AT.n + 1, 7)),
  ct('flip: prime count', 'HE_MALFORMED', () => flip(fx.good, AT.l)),
  ct('flip: correction factor', 'HE_MALFORMED', () => flip(fx.good, AT.correction, 1)),
  ct('flip: coefficient-array magic', 'HE_MALFORMED', () => flip(fx.good, AT.innerHeader)),
  ct('flip: coefficient count', 'HE_MALFORMED', () => flip(fx.good, AT.count)),
  ct('coefficient count halved (fake seeded, no seed)', 'HE_MALFORMED', () =>
    setU64(fx.good, AT.count, BigInt((fx.good.length - AT.data) / 16)),
  ),
  ct('flip: coefficient-array declared size', 'HE_MALFORMED', () => flip(fx.good, AT.innerHeader + 9)),
  // Bit flips in the data (a flip that keeps a coefficient reduced is a valid ciphertext: see docs).
  ct('flip: bit 63 of the first coefficient', 'HE_MALFORMED', () => flip(fx.good, AT.data + 7, 7)),
  ct('flip: bit 38 of a c0 coefficient (first prime has 38 bits)', 'HE_MALFORMED', () =>
    flip(fx.good, AT.data + 8 * 100 + 4, 6),
  ),
  ct('flip: bit 32 of a c1 coefficient in the 32-bit prime row', 'HE_MALFORMED', () =>
    flip(fx.good, AT.data + 8 * (3 * 4096 + 17) + 4, 0),
  ),
  ct('last coefficient = 2^64 − 1', 'HE_MALFORMED', () =>
    setU64(fx.good, fx.good.length - 8, (1n << 64n) - 1n),
  ),
  ct('seeded: PRNG type 0', 'HE_MALFORMED', () => setU8(fx.seeded, fx.seeded.length - 65, 0)),
  ct('seeded: PRNG type 9', 'HE_MALFORMED', () => setU8(fx.seeded, fx.seeded.length - 65, 9)),
  ct('seeded: flip seed header magic', 'HE_MALFORMED', () => flip(fx.seeded, fx.seeded.length - 81)),
  ct('seeded: seed header claims zstd', 'HE_COMPRESSED', () =>
    setU8(fx.seeded, fx.seeded.length - 81 + 5, 2),
  ),
  ct(
    'seeded form refused when not allowed',
    'HE_MALFORMED',
    () => fx.seeded,
    () => ({
      ...expectTop(),
      allowSeeded: false,
    }),
  ),
  // Scales.
  ct('scale NaN', 'HE_BAD_SCALE', () => setF64(fx.good, AT.scale, Number.NaN)),
  ct('scale +∞', 'HE_BAD_SCALE', () => setF64(fx.good, AT.scale, Number.POSITIVE_INFINITY)),
  ct('scale −∞', 'HE_BAD_SCALE', () => setF64(fx.good, AT.scale, Number.NEGATIVE_INFINITY)),
  ct('scale negative', 'HE_BAD_SCALE', () => setF64(fx.good, AT.scale, -(2 ** 32))),
  ct('scale zero', 'HE_BAD_SCALE', () => setF64(fx.good, AT.scale, 0)),
  ct('scale −0', 'HE_BAD_SCALE', () => setF64(fx.good, AT.scale, -0)),
  ct('scale 2^1000 (huge)', 'HE_BAD_SCALE', () => setF64(fx.good, AT.scale, 2 ** 1000)),
  ct(
    'scale 2^70 (= the modulus at this level)',
    'HE_BAD_SCALE',
    () => setF64(fx.good, AT.scale, 2 ** 70),
    expectAny,
  ),
  ct('scale 2^5 (tiny)', 'HE_BAD_SCALE', () => setF64(fx.good, AT.scale, 32), expectAny),
  ct('scale subnormal', 'HE_BAD_SCALE', () => setF64(fx.good, AT.scale, 5e-324), expectAny),
  ct('scale 2^33 where 2^32 is expected', 'HE_BAD_SCALE', () => setF64(fx.good, AT.scale, 2 ** 33)),
  ct('scale off by one ulp', 'HE_BAD_SCALE', () => setF64(fx.good, AT.scale, 2 ** 32 * (1 + 2 ** -52))),
  // Level, preset, form.
  ct('wrong level (mod-switched to 0, top expected)', 'HE_WRONG_LEVEL', () => fx.level0),
  ct(
    'public key bytes sent as a ciphertext (key level)',
    'HE_WRONG_LEVEL',
    () => fx.pub.publicKey,
    expectAny,
  ),
  ct(
    'wrong preset (ckks-8192-d2 at level 0, same length)',
    'HE_WRONG_PRESET',
    () => fx.foreign8Level0,
    expectAny,
  ),
  ct(
    'wrong preset (ckks-8192-d2 at its top level: larger than any 4096 ciphertext)',
    'HE_TOO_LARGE',
    () => fx8Bytes!,
  ),
  ct('size 3 (multiplied, not relinearized), top level', 'HE_TOO_LARGE', () => fx.size3Top, expectAny),
  ct('size 3 (multiplied, rescaled, not relinearized)', 'HE_BAD_SIZE', () => fx.size3Level0, expectAny),
  ct(
    'size 3 at level 0 when level 0 is expected (larger than any level-0 ciphertext)',
    'HE_TOO_LARGE',
    () => fx.size3Level0,
    () => ({ layout: fx.layout, level: 0 }),
  ),
  ct('non-NTT (transformed by SEAL)', 'HE_NOT_NTT', () => fx.nonNtt),
  ct('transparent (c1 = 0)', 'HE_TRANSPARENT', () => transparent(false)),
  ct('all-zero ciphertext (c0 = c1 = 0)', 'HE_TRANSPARENT', () => transparent(true)),
  // Compression.
  ct('zlib-compressed (SEAL)', 'HE_COMPRESSED', () => fx.zlib),
  ct('zstd-compressed (SEAL)', 'HE_COMPRESSED', () => fx.zstd),
  ct('zlib bomb (16 MiB of zeros declaring 2^40 coefficients)', 'HE_COMPRESSED', () => zlibBomb(16 << 20)),
  ct('zlib bomb declaring a 2^62-byte size', 'HE_COMPRESSED', () => zlibBomb(1 << 20, 1n << 62n)),
  ct('compression flag set on honest bytes', 'HE_COMPRESSED', () => setU8(fx.good, AT.compression, 1)),
  ct('nested coefficient array claims zstd', 'HE_COMPRESSED', () => setU8(fx.good, AT.innerCompression, 2)),
  // Envelope layer.
  {
    name: 'envelope: bad magic',
    code: 'HE_BAD_MAGIC',
    run: () =>
      loadCiphertextEnvelope(fx.ctx, flip(wrap('ciphertext', fx.ctx.params, fx.good), 1), expectTop()),
  },
  {
    name: 'envelope: bad version',
    code: 'HE_BAD_VERSION',
    run: () =>
      loadCiphertextEnvelope(fx.ctx, setU8(wrap('ciphertext', fx.ctx.params, fx.good), 4, 9), expectTop()),
  },
  {
    name: 'envelope: wrong kind (Galois keys where a ciphertext is expected)',
    code: 'HE_WRONG_KIND',
    run: () => loadCiphertextEnvelope(fx.ctx, wrap('galois-keys', fx.ctx.params, fx.good), expectTop()),
  },
  {
    name: 'envelope: a server result replayed as an input',
    code: 'HE_WRONG_KIND',
    run: () => loadCiphertextEnvelope(fx.ctx, wrap('result', fx.ctx.params, fx.good), expectTop()),
  },
  {
    name: 'envelope: other preset fingerprint',
    code: 'HE_WRONG_PRESET',
    run: () => loadCiphertextEnvelope(fx.ctx, wrap('ciphertext', fx.ctx8.params, fx.good), expectTop()),
  },
  {
    name: 'envelope: right fingerprint, foreign ciphertext inside',
    code: 'HE_WRONG_PRESET',
    run: () =>
      loadCiphertextEnvelope(fx.ctx, wrap('ciphertext', fx.ctx.params, fx.foreign8Level0), expectAny()),
  },
  {
    name: 'envelope: declares more bytes than the largest ciphertext',
    code: 'HE_TOO_LARGE',
    run: () =>
      loadCiphertextEnvelope(
        fx.ctx,
        setU64(wrap('ciphertext', fx.ctx.params, fx.good), 40, 1n << 40n),
        expectTop(),
      ),
  },
  {
    name: 'envelope: truncated',
    code: 'HE_MALFORMED',
    run: () =>
      loadCiphertextEnvelope(
        fx.ctx,
        wrap('ciphertext', fx.ctx.params, fx.good).subarray(0, 5000),
        expectTop(),
      ),
  },
  {
    name: 'envelope batch: one bad item among good ones',
    code: 'HE_BAD_SCALE',
    run: () =>
      loadCiphertextBatchEnvelope(
        fx.ctx,
        wrapList(
          'ciphertext-batch',
          fx.ctx.params,
          [fx.seeded, setF64(fx.good, AT.scale, Number.NaN)].map((b) => wrap('ciphertext', fx.ctx.params, b)),
        ),
        { ...expectTop(), maxItems: 4 },
      ),
  },
  {
    name: 'envelope batch: more items than allowed',
    code: 'HE_TOO_LARGE',
    run: () =>
      loadCiphertextBatchEnvelope(
        fx.ctx,
        wrapList(
          'ciphertext-batch',
          fx.ctx.params,
          [fx.seeded, fx.seeded, fx.seeded].map((b) => wrap('ciphertext', fx.ctx.params, b)),
        ),
        { ...expectTop(), maxItems: 2 },
      ),
  },
  // Evaluation keys.
  keysCase('public key truncated', 'HE_MALFORMED', () => ({ publicKey: fx.pub.publicKey.subarray(0, 5000) })),
  keysCase('public key empty', 'HE_MALFORMED', () => ({ publicKey: new Uint8Array(0) })),
  keysCase('public key zlib', 'HE_COMPRESSED', () => ({ publicKey: fx.pkZlib })),
  keysCase('public key: flip parms_id', 'HE_WRONG_PRESET', () => ({
    publicKey: flip(fx.pub.publicKey, AT.parmsId),
  })),
  keysCase('public key: scale NaN', 'HE_BAD_SCALE', () => ({
    publicKey: setF64(fx.pub.publicKey, AT.scale, Number.NaN),
  })),
  keysCase('public key: not NTT', 'HE_NOT_NTT', () => ({ publicKey: setU8(fx.pub.publicKey, AT.ntt, 0) })),
  keysCase('public key: size 3', 'HE_BAD_SIZE', () => ({ publicKey: setU64(fx.pub.publicKey, AT.size, 3n) })),
  keysCase('public key: transparent (unseeded, c1 = 0)', 'HE_TRANSPARENT', () => ({
    publicKey: patch(fx.pkUnseeded, (_, c) => c.fill(0, AT.data + (c.length - AT.data) / 2)),
  })),
  keysCase('public key: unreduced coefficient', 'HE_MALFORMED', () => ({
    publicKey: setU64(fx.pub.publicKey, AT.data, (1n << 64n) - 1n),
  })),
  keysCase('public key: a data ciphertext instead', 'HE_WRONG_LEVEL', () => ({ publicKey: fx.good })),
  keysCase('public key of another preset', 'HE_TOO_LARGE', () => ({ publicKey: fx.pkFrom8 })),
  keysCase('relin keys missing', 'HE_MISSING_RELIN_KEYS', () => ({ relinKeys: undefined })),
  keysCase('relin keys not requested', 'HE_UNEXPECTED_KEY', () => ({}), { relin: false, galoisSteps: STEPS }),
  keysCase('relin keys truncated', 'HE_MALFORMED', () => ({
    relinKeys: fx.pub.relinKeys!.subarray(0, 70000),
  })),
  keysCase('relin keys zstd', 'HE_COMPRESSED', () => ({ relinKeys: fx.rkZstd })),
  keysCase('relin keys: flip parms_id', 'HE_WRONG_PRESET', () => ({
    relinKeys: flip(fx.pub.relinKeys!, 20),
  })),
  keysCase('relin keys: two key slots (s² and s³)', 'HE_MALFORMED', () => ({
    relinKeys: setU64(fx.pub.relinKeys!, 48, 2n),
  })),
  keysCase('relin keys: empty key list', 'HE_MISSING_RELIN_KEYS', () => ({
    relinKeys: patch(fx.pub.relinKeys!.subarray(0, 64), (v, c) => {
      v.setBigUint64(8, BigInt(c.length), true);
      v.setBigUint64(56, 0n, true);
    }),
  })),
  keysCase('relin keys: part count 3', 'HE_MALFORMED', () => ({
    relinKeys: setU64(fx.pub.relinKeys!, 56, 3n),
  })),
  keysCase('relin keys: nested key claims zlib', 'HE_COMPRESSED', () => ({
    relinKeys: setU8(fx.pub.relinKeys!, firstKeyCiphertext(fx.pub.relinKeys!) + 5, 1),
  })),
  keysCase('relin keys: nested key scale ∞', 'HE_BAD_SCALE', () => ({
    relinKeys: setF64(
      fx.pub.relinKeys!,
      firstKeyCiphertext(fx.pub.relinKeys!) + AT.scale,
      Number.POSITIVE_INFINITY,
    ),
  })),
  keysCase('relin keys of another preset', 'HE_TOO_LARGE', () => ({ relinKeys: fx.rkFrom8 })),
  keysCase('Galois keys missing', 'HE_MISSING_GALOIS_KEY', () => ({ galoisKeys: undefined })),
  keysCase('Galois keys not requested', 'HE_UNEXPECTED_KEY', () => ({}), { relin: true, galoisSteps: [] }),
  keysCase('Galois keys: an extra step (5)', 'HE_UNEXPECTED_KEY', () => ({ galoisKeys: fx.gkExtra })),
  keysCase('Galois keys: a missing step (2)', 'HE_MISSING_GALOIS_KEY', () => ({ galoisKeys: fx.gkMissing })),
  keysCase('Galois keys: all powers of two (SEAL default, unseeded)', 'HE_TOO_LARGE', () => ({
    galoisKeys: fx.gkAllPowers,
  })),
  keysCase('Galois keys zlib', 'HE_COMPRESSED', () => ({ galoisKeys: fx.gkZlib })),
  keysCase('Galois keys truncated', 'HE_MALFORMED', () => ({
    galoisKeys: fx.pub.galoisKeys!.subarray(0, 300000),
  })),
  keysCase('Galois keys: flip parms_id', 'HE_WRONG_PRESET', () => ({
    galoisKeys: flip(fx.pub.galoisKeys!, 40),
  })),
  keysCase('Galois keys: slot count patched', 'HE_MALFORMED', () => ({
    galoisKeys: setU64(fx.pub.galoisKeys!, 48, 4095n),
  })),
  keysCase('Galois keys: nested key at a data level', 'HE_WRONG_LEVEL', () => ({
    galoisKeys: patch(fx.pub.galoisKeys!, (_, c) =>
      c.set(
        new Uint8Array(new BigUint64Array(fx.ctx.level(1).parmsId).buffer),
        firstKeyCiphertext(c) + AT.parmsId,
      ),
    ),
  })),
  keysCase('Galois keys: nested key unreduced', 'HE_MALFORMED', () => ({
    galoisKeys: patch(fx.pub.galoisKeys!, (v, c) =>
      v.setBigUint64(firstKeyCiphertext(c) + AT.data + 8, (1n << 64n) - 1n, true),
    ),
  })),
  keysCase('Galois keys: nested key not NTT', 'HE_NOT_NTT', () => ({
    galoisKeys: patch(fx.pub.galoisKeys!, (_, c) => void (c[firstKeyCiphertext(c) + AT.ntt] = 0)),
  })),
  keysCase('Galois keys: trailing bytes', 'HE_MALFORMED', () => ({
    galoisKeys: patch(concat(fx.pub.galoisKeys!, [1, 2, 3]), (v, c) =>
      v.setBigUint64(8, BigInt(c.length), true),
    ),
  })),
  keysCase('Galois keys sent as relin keys', 'HE_TOO_LARGE', () => ({ relinKeys: fx.pub.galoisKeys })),
  {
    name: 'public material envelope: wrong kind inside (ciphertext)',
    code: 'HE_WRONG_KIND',
    run: () =>
      loadPublicMaterialEnvelope(
        fx.ctx,
        wrap(
          'public-material',
          fx.ctx.params,
          concat([1, 0, 0, 0, 0, 0, 0, 0], wrap('ciphertext', fx.ctx.params, fx.good)),
        ),
        { relin: true, galoisSteps: STEPS },
      ),
  },
  {
    name: 'public material envelope: other preset',
    code: 'HE_WRONG_PRESET',
    run: () =>
      loadPublicMaterialEnvelope(fx.ctx, wrapPublicMaterial(fx.ctx8.params, fx.pub), {
        relin: true,
        galoisSteps: STEPS,
      }),
  },
  {
    name: 'public material envelope: kind byte says ciphertext-batch',
    code: 'HE_WRONG_KIND',
    run: () =>
      loadPublicMaterialEnvelope(
        fx.ctx,
        setU8(wrapPublicMaterial(fx.ctx.params, fx.pub), 5, ENVELOPE_KINDS['ciphertext-batch']),
        {
          relin: true,
          galoisSteps: STEPS,
        },
      ),
  },
];

// A top-level ckks-8192-d2 ciphertext.
let fx8Bytes: Uint8Array | undefined;

function codeOf(f: () => unknown): HeErrorCode | 'accepted' {
  try {
    const r = f() as { [Symbol.dispose]?: () => void } | undefined;
    r?.[Symbol.dispose]?.();
    return 'accepted';
  } catch (e) {
    if (isHeError(e)) return e.code;
    throw e; // anything else (a raw WebAssembly.Exception, a TypeError) is a test failure
  }
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tol,
      `${what}[${i}]: ${actual[i]} vs ${expected[i]} (tolerance ${tol})`,
    );
  }
}

before(async () => {
  const ctx = await HeContext.create('ckks-4096-d1');
  const ctx8 = await HeContext.create('ckks-8192-d2');
  const keys = generateKeys(ctx, { relin: true, galoisSteps: STEPS });
  const keys8 = generateKeys(ctx8, { relin: true });
  const pub = keys.exportPublic();
  const seal = ctx._seal;
  using pt = encodeSlots(ctx, VALUES);
  using c = encryptSymmetric(keys, pt);
  const ev = new Evaluator(ctx, keys);
  using l0 = ev.modSwitchTo(c, 0);
  using sq = ev.multiply(c, c);
  using sq0 = ev.rescale(sq);
  using nonNtt = c.clone();
  ctx._evaluator.cipherTransformFromNttInplace(nonNtt._raw);
  using pt8 = encodeSlots(ctx8, VALUES);
  using c8 = encryptSymmetric(keys8, pt8);
  using c8l0 = new Evaluator(ctx8).modSwitchTo(c8, 0);
  const save = (s: { saveToArray(m: unknown): unknown; delete?(): void }, mode: 'none' | 'zlib' | 'zstd') =>
    new Uint8Array(s.saveToArray(seal.ComprModeType[mode]) as Uint8Array);
  const gkFor = (steps: number[]) => {
    using k = generateKeys(ctx, { galoisSteps: steps }, keys.exportSecretKey());
    return k.exportPublic().galoisKeys!;
  };
  const kg = new seal.KeyGenerator(ctx._ctx, keys._secretKey);
  const allPowers = kg.createGaloisKeys();
  kg.delete();
  fx = {
    ctx,
    ctx8,
    keys,
    keys8,
    pub,
    layout: pt.layout,
    good: raw(c),
    seeded: encryptSymmetricSeeded(keys, pt),
    level0: raw(l0),
    size3Level0: raw(sq0),
    size3Top: raw(sq),
    nonNtt: raw(nonNtt),
    foreign8Level0: raw(c8l0),
    foreign4: raw(c),
    zlib: raw(c, 'zlib'),
    zstd: raw(c, 'zstd'),
    pkZlib: save(keys._publicKey, 'zlib'),
    rkZstd: save(keys._relinKeys, 'zstd'),
    gkZlib: save(keys._galoisKeysFor(1), 'zlib'),
    gkExtra: gkFor([...STEPS, 5]),
    gkMissing: gkFor([1, -1]),
    gkAllPowers: save(allPowers, 'none'),
    pkUnseeded: save(keys._publicKey, 'none'),
    rkFrom8: keys8.exportPublic().relinKeys!,
    pkFrom8: keys8.exportPublic().publicKey,
  };
  allPowers.delete();
  fx8Bytes = raw(c8);
});

after(() => {
  fx.keys[Symbol.dispose]();
  fx.keys8[Symbol.dispose]();
  fx.ctx[Symbol.dispose]();
  fx.ctx8[Symbol.dispose]();
});

describe('hardened loading: hostile corpus', () => {
  for (const c of CASES) {
    it(`${c.name} → ${c.code}`, () => {
      assert.equal(codeOf(c.run), c.code);
    });
  }

  it('a ckks-4096-d1 ciphertext is refused by ckks-8192-d2 as another preset', () => {
    assert.equal(
      codeOf(() => loadCiphertext(fx.ctx8, fx.foreign4, { layout: fx.layout })),
      'HE_WRONG_PRESET',
    );
    assert.equal(
      codeOf(() => loadCiphertext(fx.ctx, fx8Bytes!, { layout: fx.layout })),
      'HE_TOO_LARGE',
    );
  });

  it('refuses the bomb from its header, without inflating it', () => {
    const bomb = zlibBomb(16 << 20);
    assert.ok(bomb.length < 64 * 1024, `bomb is ${bomb.length} bytes`);
    const t0 = performance.now();
    assert.equal(
      codeOf(() => loadCiphertext(fx.ctx, bomb, expectAny())),
      'HE_COMPRESSED',
    );
    assert.ok(performance.now() - t0 < 50, 'refusal must not depend on the payload');
  });

  it('the corpus is 100% rejected, and SEAL and the process still work afterwards', () => {
    let rejected = 0;
    for (const c of CASES) if (codeOf(c.run) === c.code) rejected++;
    assert.equal(rejected, CASES.length);
    assert.ok(CASES.length >= 100, `corpus has ${CASES.length} cases`);
    using pt = encodeSlots(fx.ctx, VALUES);
    using c = loadCiphertext(fx.ctx, encryptSymmetricSeeded(fx.keys, pt), expectTop());
    using back = decrypt(fx.keys, c);
    close(decodeSlots(back), VALUES, 1e-6, 'after corpus');
  });
});

describe('hardened loading: SEAL 4.1.2 alone accepts what we refuse (why the checks exist)', () => {
  it('raw SEAL loads NaN-scale, size-3, non-NTT and transparent ciphertexts', () => {
    const seal = fx.ctx._seal;
    for (const bytes of [
      setF64(fx.good, AT.scale, Number.NaN),
      fx.size3Level0,
      fx.nonNtt,
      transparent(false),
    ]) {
      const c = new seal.Ciphertext();
      try {
        c.loadFromArray(fx.ctx._ctx, bytes);
      } finally {
        c.delete();
      }
    }
  });
});

describe('hardened loading: round trips', () => {
  for (const preset of ['ckks-4096-d1', 'ckks-8192-d2'] as const) {
    describe(preset, () => {
      let ctx: HeContext;
      let keys: KeySet;
      const steps = [1, -1, 2, -3];
      before(async () => {
        ctx = await HeContext.create(preset);
        keys = generateKeys(ctx, { relin: true, galoisSteps: steps });
      });
      after(() => {
        keys[Symbol.dispose]();
        ctx[Symbol.dispose]();
      });

      it('ciphertexts (unseeded, seeded, lower level) decrypt to the original values', () => {
        using pt = encodeSlots(ctx, VALUES);
        using c = encryptSymmetric(keys, pt);
        const expect = { layout: pt.layout, level: ctx.maxLevel, scale: ctx.defaultScale };
        const seeded = encryptSymmetricSeeded(keys, pt);
        assert.equal(seeded.length, ciphertextByteLength(ctx, ctx.maxLevel, true));
        assert.equal(saveCiphertext(c).length, maxCiphertextBytes(ctx));
        for (const bytes of [saveCiphertext(c), seeded]) {
          using loaded = loadCiphertext(ctx, bytes, expect);
          assert.equal(loaded.level, ctx.maxLevel);
          assert.equal(loaded.scale, ctx.defaultScale);
          assert.equal(loaded.size, 2);
          using out = decrypt(keys, loaded);
          close(decodeSlots(out), VALUES, 1e-6, 'decrypted');
        }
        using low = new Evaluator(ctx).modSwitchTo(c, 0);
        using loadedLow = loadCiphertext(ctx, saveCiphertext(low), { layout: pt.layout, level: 0 });
        using outLow = decrypt(keys, loadedLow);
        close(decodeSlots(outLow), VALUES, 1e-6, 'decrypted at level 0');
      });

      it('evaluation keys (seeded upload) load and work: public key, relinearization, rotations', () => {
        const upload = keys.exportPublic();
        using ek = loadEvaluationKeys(ctx, upload, { relin: true, galoisSteps: steps });
        assert.deepEqual(
          ek.galoisSteps,
          [...steps].sort((a, b) => a - b),
        );
        assert.ok(ek.hasRelinKeys);
        const limits = maxEvaluationKeyBytes(ctx, { relin: true, galoisSteps: steps });
        assert.ok(upload.galoisKeys!.length <= limits.galoisKeys);
        assert.ok(upload.relinKeys!.length <= limits.relinKeys);
        // Public key: the server encrypts, the client decrypts.
        using pt = encodeSlots(ctx, VALUES);
        using pc = encryptPublic(ek, pt);
        using pdec = decrypt(keys, pc);
        close(decodeSlots(pdec), VALUES, 1e-5, 'public-key encryption');
        // Relinearization with the loaded keys.
        const ev = new Evaluator(ctx, ek);
        using c = encryptSymmetric(keys, pt);
        using prod = ev.multiply(c, c);
        using rel = ev.relinearize(prod);
        using res = ev.rescale(rel);
        using sdec = decrypt(keys, res);
        close(
          decodeSlots(sdec),
          VALUES.map((x) => x * x),
          1e-3,
          'square',
        );
        // Rotations: slot i of the result holds x[(i + step) mod period].
        const period = pt.layout.kind === 'slots' ? pt.layout.period : 0;
        for (const step of steps) {
          using r = ev.rotate(c, step);
          using d = decrypt(keys, r);
          const want = VALUES.map((_, i) => VALUES[(((i + step) % period) + period) % period]);
          close(decodeSlots(d), want, 1e-3, `rotate ${step}`);
        }
      });

      it('unseeded keys load too, and the Galois elements are those SEAL uses', () => {
        const seal = ctx._seal;
        const pk = new Uint8Array(keys._publicKey.saveToArray(seal.ComprModeType.none) as Uint8Array);
        const gkBytes = new Uint8Array(
          keys._galoisKeysFor(1).saveToArray(seal.ComprModeType.none) as Uint8Array,
        );
        using ek = loadEvaluationKeys(
          ctx,
          { publicKey: pk, galoisKeys: gkBytes },
          { relin: false, galoisSteps: steps },
        );
        for (const s of steps)
          assert.ok(keys._galoisKeysFor(s).hasKey(galoisElement(ctx.params.polyModulusDegree, s)));
        assert.equal(ek.hasRelinKeys, false);
      });

      it('envelopes: a ciphertext, a batch and public material round-trip', () => {
        using pt = encodeSlots(ctx, VALUES);
        const seeded = encryptSymmetricSeeded(keys, pt);
        const expect = { layout: pt.layout, level: ctx.maxLevel, scale: ctx.defaultScale };
        using one = loadCiphertextEnvelope(ctx, wrap('ciphertext', ctx.params, seeded), expect);
        using d1 = decrypt(keys, one);
        close(decodeSlots(d1), VALUES, 1e-6, 'enveloped');
        const batch = wrapList(
          'ciphertext-batch',
          ctx.params,
          [seeded, seeded].map((b) => wrap('ciphertext', ctx.params, b)),
        );
        const many = loadCiphertextBatchEnvelope(ctx, batch, { ...expect, maxItems: 2 });
        assert.equal(many.length, 2);
        for (const c of many) c[Symbol.dispose]();
        using result = loadCiphertextEnvelope(ctx, wrap('result', ctx.params, saveCiphertext(one)), {
          ...expect,
          kind: 'result',
        });
        assert.equal(result.level, ctx.maxLevel);
        using ek = loadPublicMaterialEnvelope(ctx, wrapPublicMaterial(ctx.params, keys.exportPublic()), {
          relin: true,
          galoisSteps: steps,
        });
        assert.deepEqual(
          ek.galoisSteps,
          [...steps].sort((a, b) => a - b),
        );
      });
    });
  }

  it('BFV: ciphertexts (not NTT, scale 1) and keys load; NTT form or a scale are refused', async () => {
    using ctx = await HeContext.create('bfv-4096');
    using keys = generateKeys(ctx, { relin: true, galoisSteps: [1] });
    const seal = ctx._seal;
    const be = new seal.BatchEncoder(ctx._ctx);
    const pt = new seal.Plaintext();
    const enc = new seal.Encryptor(ctx._ctx, keys._publicKey);
    const c = new seal.Ciphertext();
    let bytes: Uint8Array;
    try {
      be.encode(BigInt64Array.from([1n, 2n, 3n]), pt);
      enc.encrypt(pt, c);
      bytes = new Uint8Array(c.saveToArray(seal.ComprModeType.none) as Uint8Array);
    } finally {
      for (const o of [be, pt, enc, c]) o.delete();
    }
    const layout: Layout = { kind: 'slots', length: 3, period: 4 };
    using loaded = loadCiphertext(ctx, bytes, { layout, level: ctx.maxLevel });
    assert.equal(loaded.scale, 1);
    assert.equal(
      codeOf(() => loadCiphertext(ctx, setU8(bytes, AT.ntt, 1), { layout })),
      'HE_NOT_NTT',
    );
    assert.equal(
      codeOf(() => loadCiphertext(ctx, setF64(bytes, AT.scale, 2 ** 20), { layout })),
      'HE_BAD_SCALE',
    );
    using ek = loadEvaluationKeys(ctx, keys.exportPublic(), { relin: true, galoisSteps: [1] });
    assert.deepEqual(ek.galoisSteps, [1]);
  });

  it('galoisElement matches SEAL (generator 3) and inverts for negative steps', () => {
    assert.equal(galoisElement(4096, 1), 3);
    assert.equal(galoisElement(4096, 3), 27);
    assert.equal(galoisElement(4096, -1), 2731);
    for (const n of [4096, 8192]) {
      for (const s of [1, 2, 5, 100, n / 2 - 1]) {
        assert.equal((galoisElement(n, s) * galoisElement(n, -s)) % (2 * n), 1, `N=${n} step ${s}`);
      }
    }
    assert.throws(
      () => galoisElement(4096, 0),
      (e) => isHeError(e, 'HE_INVALID_ARGUMENT'),
    );
    assert.throws(
      () => galoisElement(4096, 2048),
      (e) => isHeError(e, 'HE_INVALID_ARGUMENT'),
    );
  });
});

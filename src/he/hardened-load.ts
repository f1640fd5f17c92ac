// Loading untrusted SEAL bytes (a peer's ciphertexts and evaluation keys) without trusting SEAL
// 4.1.2 to defend itself. node-seal 7 bundles SEAL 4.1.2, which (measured, see FINDINGS.md) loads
// NaN/∞/negative/huge scales, lower-level, size-3, non-NTT and transparent ciphertexts without
// complaint, and inflates compressed payloads before any size check (a 4.9 MB zlib payload grew to
// ~768 MiB). So every check that can be done on the bytes is done here first, in an order where the
// cheapest and most fundamental (length, header, compression) come before anything that reads
// further, and SEAL only ever sees bytes whose every field has already been validated. After SEAL
// has loaded them, its accessors are asked again (defence in depth against a parser disagreement).
// See docs/he-hardening.md for the full list of checks and their error codes.

import { type _SealGaloisKeys, type _SealPublicKey, type _SealRelinKeys, _sealMessage } from './_seal.ts';
import type { HeContext } from './context.ts';
import {
  ENVELOPE_HEADER_BYTES,
  type FingerprintLike,
  type PublicMaterialBytes,
  unwrap,
  unwrapList,
  unwrapPublicMaterial,
} from './envelope.ts';
import { HeError, type HeErrorCode } from './errors.ts';
import { Ciphertext } from './handles.ts';
import { EvaluationKeys, normalizeSteps } from './keys.ts';
import type { Layout } from './layout.ts';
import { readCiphertextFields, SEAL_COMPRESSION, SEAL_HEADER_BYTES, SEAL_MAGIC } from './seal-format.ts';

/** Bytes of a serialized ciphertext before its coefficients (SEAL header + metadata + DynArray header). */
const CT_PREFIX_BYTES = 113;
/** A seeded ciphertext ends with SEAL's UniformRandomGeneratorInfo: header + prng type u8 + 64-byte seed. */
const PRNG_INFO_BYTES = SEAL_HEADER_BYTES + 1 + 64;
/** SEAL's prng_type values that can expand a seed (0 = unknown is refused). */
const PRNG_TYPES: ReadonlySet<number> = new Set([1, 2]);
/** KSwitchKeys: SEAL header + parms_id + u64 number of key slots. */
const KSWITCH_PREFIX_BYTES = SEAL_HEADER_BYTES + 32 + 8;
/** Smallest CKKS scale accepted: below 2^10 a ciphertext carries no useful precision. */
const MIN_SCALE_BITS = 10;
/** SEAL's Galois generator (SEAL_GALOIS_GENERATOR): rotation by s uses element 3^s mod 2N. */
const GALOIS_GENERATOR = 3;

function fail(code: HeErrorCode, what: string, reason: string): never {
  throw new HeError(code, `cannot load ${what}: ${reason}`);
}

function checkBytes(bytes: unknown, what: string): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new HeError('HE_INVALID_ARGUMENT', `cannot load ${what}: "bytes" expected a Uint8Array`);
  }
}

function dataView(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function bitLength(q: bigint): number {
  return q.toString(2).length;
}

// ---------------------------------------------------------------------------------------------
// The key level: SEAL's level above the data levels, holding every prime (the special prime too).
// HeContext only tracks data levels, so the key level's parms_id and primes are cached here.

interface KeyLevel {
  readonly parmsId: readonly bigint[];
  readonly primes: readonly bigint[];
}

const keyLevels = new WeakMap<HeContext, KeyLevel>();

function keyLevel(ctx: HeContext): KeyLevel {
  let k = keyLevels.get(ctx);
  if (k === undefined) {
    const cd = ctx._ctx.keyContextData();
    try {
      const pid = cd.parmsId();
      const parmsId = [...(pid.values() as BigUint64Array)];
      pid.delete();
      const parms = cd.parms();
      const mods = parms.coeffModulus();
      const primes: bigint[] = [];
      for (let i = 0; i < mods.size(); i++) {
        const m = mods.get(i)!;
        primes.push(m.value());
        m.delete();
      }
      mods.delete();
      parms.delete();
      k = Object.freeze({ parmsId: Object.freeze(parmsId), primes: Object.freeze(primes) });
    } finally {
      cd.delete();
    }
    keyLevels.set(ctx, k);
  }
  return k;
}

function sameWords(a: readonly bigint[], b: readonly bigint[]): boolean {
  return a.length === b.length && a.every((w, i) => w === b[i]);
}

// ---------------------------------------------------------------------------------------------
// Exact sizes, derived from the parameters. These bound every read before SEAL allocates anything.

/**
 * Exact byte length of a serialized size-2, uncompressed ciphertext at `level` (default: the top
 * data level), seeded (c1 replaced by a PRNG seed, as `encryptSymmetricSeeded` writes) or not.
 */
export function ciphertextByteLength(ctx: HeContext, level: number = ctx.maxLevel, seeded = false): number {
  const n = ctx.params.polyModulusDegree;
  const l = ctx.level(level).primes.length;
  return seeded ? CT_PREFIX_BYTES + n * l * 8 + PRNG_INFO_BYTES : CT_PREFIX_BYTES + 2 * n * l * 8;
}

/** Largest acceptable serialized ciphertext at `level`, or at any data level when omitted. */
export function maxCiphertextBytes(ctx: HeContext, level?: number): number {
  return ciphertextByteLength(ctx, level ?? ctx.maxLevel, false);
}

function keyCiphertextMaxBytes(ctx: HeContext): number {
  return CT_PREFIX_BYTES + 2 * ctx.params.polyModulusDegree * keyLevel(ctx).primes.length * 8;
}

/** Byte limits for uploaded evaluation material (unseeded sizes: the seeded form is smaller). */
export interface EvaluationKeyLimits {
  readonly publicKey: number;
  readonly relinKeys: number;
  readonly galoisKeys: number;
  readonly total: number;
}

/**
 * Largest acceptable byte size of each part of the evaluation material a computation needs:
 * relinearization keys hold one key of (primes − 1) key ciphertexts; Galois keys hold N slots of
 * 8 bytes plus one such key per distinct Galois element. Zero for parts not expected.
 */
export function maxEvaluationKeyBytes(ctx: HeContext, expect: EvaluationKeyRequest): EvaluationKeyLimits {
  const decomp = keyLevel(ctx).primes.length - 1;
  const perKey = 8 + decomp * keyCiphertextMaxBytes(ctx);
  const elts = galoisElements(ctx, expect.galoisSteps ?? []);
  const publicKey = keyCiphertextMaxBytes(ctx);
  const relinKeys = expect.relin ? KSWITCH_PREFIX_BYTES + perKey : 0;
  const galoisKeys =
    elts.size > 0
      ? KSWITCH_PREFIX_BYTES + (ctx.params.polyModulusDegree - elts.size) * 8 + elts.size * perKey
      : 0;
  return { publicKey, relinKeys, galoisKeys, total: publicKey + relinKeys + galoisKeys };
}

/**
 * SEAL's Galois element for a rotation by `step` slots (positive = left) at ring degree N:
 * 3^step mod 2N, and for a negative step 3^(N/2 − |step|), which is the inverse of 3^|step| because
 * 3 has order N/2 modulo 2N. (Textbooks often use 5; SEAL's generator is 3.)
 *
 * @example
 * galoisElement(4096, 1); // 3
 * galoisElement(4096, -1); // 2731 (3 · 2731 ≡ 1 mod 8192)
 */
export function galoisElement(polyModulusDegree: number, step: number): number {
  const n = polyModulusDegree;
  if (!Number.isInteger(n) || n < 2 || (n & (n - 1)) !== 0) {
    throw new HeError('HE_INVALID_ARGUMENT', `cannot compute Galois element: N=${n} is not a power of two`);
  }
  const half = n / 2;
  if (!Number.isInteger(step) || step === 0 || Math.abs(step) >= half) {
    throw new HeError(
      'HE_INVALID_ARGUMENT',
      `cannot compute Galois element: step ${step} must be a non-zero integer with |step| < ${half}`,
    );
  }
  const m = 2 * n;
  let e = step > 0 ? step : half + step;
  // Square-and-multiply; operands stay below 2N ≤ 2^17, so products are exact doubles.
  let base = GALOIS_GENERATOR % m;
  let acc = 1;
  while (e > 0) {
    if (e & 1) acc = (acc * base) % m;
    base = (base * base) % m;
    e >>= 1;
  }
  return acc;
}

function galoisElements(ctx: HeContext, steps: readonly number[]): Map<number, number> {
  const byElt = new Map<number, number>();
  for (const s of normalizeSteps(ctx, steps)) {
    const elt = galoisElement(ctx.params.polyModulusDegree, s);
    if (!byElt.has(elt)) byElt.set(elt, s);
  }
  return byElt;
}

// ---------------------------------------------------------------------------------------------
// Byte-level checks shared by every SEAL object.

/**
 * Checks a SEAL header at the start of `bytes` and returns the size it declares. The compression
 * byte is read before the declared size so that a compressed payload, bomb or not, is always
 * refused as `HE_COMPRESSED` and never handed to SEAL's inflater.
 */
function checkSealHeader(bytes: Uint8Array, what: string, exactLength: boolean, nested: boolean): number {
  if (bytes.length < SEAL_HEADER_BYTES) {
    fail('HE_MALFORMED', what, `${bytes.length} bytes is shorter than a SEAL header`);
  }
  const v = dataView(bytes);
  // Magic and version identify the format of the whole input; inside an object whose outer header
  // was fine, a bad one is damage (HE_MALFORMED), not a foreign format.
  if (v.getUint16(0, true) !== SEAL_MAGIC) {
    fail(nested ? 'HE_MALFORMED' : 'HE_BAD_MAGIC', what, 'not a SEAL serialization (bad magic)');
  }
  if (v.getUint8(2) !== SEAL_HEADER_BYTES) fail('HE_MALFORMED', what, 'unexpected SEAL header size');
  const major = v.getUint8(3);
  const minor = v.getUint8(4);
  // 4.0 and 4.1 share one format; anything else is a format this code was not written against.
  if (major !== 4 || minor > 1) {
    fail(
      nested ? 'HE_MALFORMED' : 'HE_BAD_VERSION',
      what,
      `SEAL format ${major}.${minor}, expected 4.0 or 4.1`,
    );
  }
  const compression = v.getUint8(5);
  if (compression === SEAL_COMPRESSION.zlib || compression === SEAL_COMPRESSION.zstd) {
    fail(
      'HE_COMPRESSED',
      what,
      `${compression === SEAL_COMPRESSION.zlib ? 'zlib' : 'zstd'}-compressed payloads are refused (decompression bomb risk); send uncompressed bytes`,
    );
  }
  if (compression !== SEAL_COMPRESSION.none)
    fail('HE_MALFORMED', what, `unknown compression mode ${compression}`);
  if (v.getUint16(6, true) !== 0) fail('HE_MALFORMED', what, 'reserved header bytes are not zero');
  const declared = v.getBigUint64(8, true);
  if (exactLength ? declared !== BigInt(bytes.length) : declared > BigInt(bytes.length)) {
    fail('HE_MALFORMED', what, `header declares ${declared} bytes, got ${bytes.length}`);
  }
  return Number(declared);
}

/** What {@link checkCiphertextBytes} learned; offsets are relative to the bytes it was given. */
interface CiphertextShape {
  readonly level: number | undefined;
  readonly scale: number;
  readonly seeded: boolean;
  readonly length: number;
}

interface CiphertextRules {
  readonly what: string;
  /** Data ciphertext (a level of this context) or key ciphertext (the key level). */
  readonly role: 'data' | 'key';
  readonly expectedLevel?: number;
  readonly expectedScale?: number;
  readonly allowSeeded: boolean;
  /** True when `bytes` must be exactly one object; false when it starts one (nested in keys). */
  readonly exactLength: boolean;
}

/**
 * Validates one serialized ciphertext (or key ciphertext) field by field, in the order documented
 * in docs/he-hardening.md, without SEAL. Returns what the post-load checks compare against.
 */
function checkCiphertextBytes(ctx: HeContext, bytes: Uint8Array, r: CiphertextRules): CiphertextShape {
  const { what } = r;
  const declared = checkSealHeader(bytes, what, r.exactLength, !r.exactLength);
  const own = bytes.subarray(0, declared);
  if (own.length < CT_PREFIX_BYTES) fail('HE_MALFORMED', what, 'truncated before the coefficient data');
  let f: ReturnType<typeof readCiphertextFields>;
  try {
    f = readCiphertextFields(own);
  } catch (e) {
    // The outer header was checked above, so a bad magic or version here is in the nested
    // coefficient-array header: a malformed object, not a foreign format.
    if (e instanceof HeError) {
      const code = e.code === 'HE_COMPRESSED' ? e.code : 'HE_MALFORMED';
      fail(code, what, e.message.replace(/^cannot read [^:]*: /, ''));
    }
    throw e;
  }
  const v = dataView(own);

  // 1. Which parameter set and level: parms_id is a hash of the parameters at one level.
  const key = keyLevel(ctx);
  let level: number | undefined;
  let primes: readonly bigint[];
  const dataLevel = ctx.levelOfParmsId(f.parmsId);
  if (r.role === 'data') {
    if (dataLevel === undefined) {
      if (sameWords(f.parmsId, key.parmsId))
        fail('HE_WRONG_LEVEL', what, 'it is at the key level, not a data level');
      fail('HE_WRONG_PRESET', what, 'its parms_id belongs to no level of this parameter set');
    }
    if (r.expectedLevel !== undefined && dataLevel !== r.expectedLevel) {
      fail('HE_WRONG_LEVEL', what, `it is at level ${dataLevel}, expected level ${r.expectedLevel}`);
    }
    level = dataLevel;
    primes = ctx.level(dataLevel).primes;
  } else {
    if (!sameWords(f.parmsId, key.parmsId)) {
      if (dataLevel !== undefined)
        fail('HE_WRONG_LEVEL', what, `it is at data level ${dataLevel}, not the key level`);
      fail('HE_WRONG_PRESET', what, 'its parms_id belongs to no level of this parameter set');
    }
    primes = key.primes;
  }
  const n = ctx.params.polyModulusDegree;
  const l = primes.length;

  // 2. Ring degree and prime count must be those of that level (SEAL re-derives nothing from them).
  if (f.polyModulusDegree !== n || f.coeffModulusSize !== l) {
    fail(
      'HE_MALFORMED',
      what,
      `declares N=${f.polyModulusDegree} with ${f.coeffModulusSize} primes, expected N=${n} with ${l}`,
    );
  }
  // 3. Exactly two polynomials: size 3 means "multiplied, not relinearized" (and costs 1.5× memory);
  //    everything BlindDx exchanges is relinearized.
  if (f.size !== 2) fail('HE_BAD_SIZE', what, `it has ${f.size} polynomials, expected 2`);
  // 4. NTT form: CKKS ciphertexts and all keys live in NTT form; BFV ciphertexts do not.
  const wantNtt = r.role === 'key' || ctx.params.scheme === 'ckks';
  if (f.isNtt !== wantNtt) {
    fail('HE_NOT_NTT', what, wantNtt ? 'it is not in NTT form' : 'a BFV ciphertext must not be in NTT form');
  }
  // 5. Scale: SEAL keeps whatever double it reads, including NaN, ±∞, negatives and 2^1000.
  checkScale(ctx, f.scale, primes, r, what);
  if (f.correctionFactor !== 1n) fail('HE_MALFORMED', what, 'correction factor is not 1');

  // 6. Stored coefficients: 2·N·L (unseeded) or N·L followed by a PRNG seed (seeded).
  const seeded = f.storedCount === n * l;
  if (!seeded && f.storedCount !== 2 * n * l) {
    fail(
      'HE_MALFORMED',
      what,
      `stores ${f.storedCount} coefficients, expected ${2 * n * l} (or ${n * l} seeded)`,
    );
  }
  if (seeded && !r.allowSeeded) fail('HE_MALFORMED', what, 'seeded form is not accepted here');
  const innerDeclared = v.getBigUint64(89 + 8, true);
  if (innerDeclared !== BigInt(SEAL_HEADER_BYTES + 8 + f.storedCount * 8)) {
    fail('HE_MALFORMED', what, 'coefficient array header declares a wrong size');
  }
  const dataEnd = CT_PREFIX_BYTES + f.storedCount * 8;
  const expectedLength = dataEnd + (seeded ? PRNG_INFO_BYTES : 0);
  if (own.length !== expectedLength) {
    fail('HE_MALFORMED', what, `is ${own.length} bytes, expected ${expectedLength} for its declared shape`);
  }
  if (seeded) {
    const info = own.subarray(dataEnd);
    checkSealHeader(info, `${what} seed`, true, true);
    if (!PRNG_TYPES.has(info[SEAL_HEADER_BYTES]))
      fail('HE_MALFORMED', what, 'unknown PRNG type for the seed');
  }
  // 7. Every coefficient reduced modulo its prime (SEAL checks this too; checking here means SEAL
  //    never holds an unreduced value, whatever its own check does).
  const rows = f.storedCount / n;
  for (let row = 0; row < rows; row++) {
    const q = primes[row % l];
    const qHi = Number(q >> 32n);
    const qLo = Number(q & 0xffffffffn);
    const start = CT_PREFIX_BYTES + row * n * 8;
    for (let i = 0; i < n; i++) {
      const at = start + i * 8;
      const hi = v.getUint32(at + 4, true);
      if (hi > qHi || (hi === qHi && v.getUint32(at, true) >= qLo)) {
        fail('HE_MALFORMED', what, `coefficient ${i} of RNS row ${row} is not reduced modulo its prime`);
      }
    }
  }
  // 8. Transparent: c1 = 0 makes c0 the (scaled) message in the clear and, in a public key, makes
  //    "re-randomizing" with it add nothing. A seeded c1 is expanded from the seed and never zero.
  if (!seeded) {
    let nonzero = false;
    for (let at = CT_PREFIX_BYTES + n * l * 8; at < dataEnd && !nonzero; at++) nonzero = own[at] !== 0;
    if (!nonzero) fail('HE_TRANSPARENT', what, 'its second polynomial is zero (transparent)');
  }
  return { level, scale: f.scale, seeded, length: own.length };
}

function checkScale(
  ctx: HeContext,
  scale: number,
  primes: readonly bigint[],
  r: CiphertextRules,
  what: string,
): void {
  if (r.role === 'key' || ctx.params.scheme === 'bfv') {
    // Keys carry scale 1; BFV has no scale. Anything else is not something SEAL wrote.
    if (scale !== 1) fail('HE_BAD_SCALE', what, `scale must be exactly 1, got ${scale}`);
    return;
  }
  if (!Number.isFinite(scale) || scale <= 0)
    fail('HE_BAD_SCALE', what, `scale ${scale} is not a finite positive number`);
  const bits = primes.reduce((a, q) => a + bitLength(q), 0);
  const log = Math.log2(scale);
  if (log < MIN_SCALE_BITS || log >= bits) {
    fail(
      'HE_BAD_SCALE',
      what,
      `scale 2^${log.toFixed(2)} is outside [2^${MIN_SCALE_BITS}, 2^${bits}) at its level`,
    );
  }
  if (r.expectedScale !== undefined && scale !== r.expectedScale) {
    fail(
      'HE_BAD_SCALE',
      what,
      `scale 2^${log.toFixed(6)} differs from the expected 2^${Math.log2(r.expectedScale).toFixed(6)}`,
    );
  }
}

/** Runs a SEAL load; SEAL throws `WebAssembly.Exception`, mapped to `HE_MALFORMED`. */
function sealLoad(ctx: HeContext, what: string, load: () => void): void {
  try {
    load();
  } catch (e) {
    if (e instanceof HeError) throw e;
    throw new HeError(
      'HE_MALFORMED',
      `cannot load ${what}: SEAL refused it (${_sealMessage(ctx._seal, e)})`,
      {
        cause: e,
      },
    );
  }
}

function checkLimit(length: number, limit: number, what: string): void {
  if (length > limit) fail('HE_TOO_LARGE', what, `${length} bytes exceeds the limit of ${limit}`);
}

function checkMaxArg(maxBytes: number | undefined, what: string): number {
  if (maxBytes === undefined) return Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new HeError(
      'HE_INVALID_ARGUMENT',
      `cannot load ${what}: "maxBytes" expected a non-negative integer`,
    );
  }
  return maxBytes;
}

// ---------------------------------------------------------------------------------------------
// Ciphertexts.

/** What the caller requires of an untrusted ciphertext. */
export interface CiphertextExpectations {
  /** Layout the ciphertext is declared to have (the protocol knows it; the bytes cannot say). */
  readonly layout: Layout;
  /** Exact level required (e.g. the top level for fresh client inputs). Default: any data level. */
  readonly level?: number;
  /** Exact scale required (e.g. `ctx.defaultScale` for fresh inputs). Default: any scale in range. */
  readonly scale?: number;
  /** Byte cap below the exact per-level maximum. */
  readonly maxBytes?: number;
  /** Accept SEAL's seeded form (what `encryptSymmetricSeeded` produces). Default true. */
  readonly allowSeeded?: boolean;
}

/**
 * Loads an untrusted serialized ciphertext into this context, refusing anything that is not a
 * well-formed, size-2, NTT-form (CKKS), non-transparent ciphertext at a data level of this
 * parameter set, with a finite in-range scale (and the expected level/scale when given).
 * Errors: `HE_TOO_LARGE`, `HE_BAD_MAGIC`, `HE_BAD_VERSION`, `HE_COMPRESSED`, `HE_MALFORMED`,
 * `HE_WRONG_PRESET`, `HE_WRONG_LEVEL`, `HE_BAD_SIZE`, `HE_NOT_NTT`, `HE_BAD_SCALE`, `HE_TRANSPARENT`.
 * The caller owns (and disposes) the returned handle.
 *
 * @example
 * using ct = loadCiphertext(ctx, body, { layout, level: ctx.maxLevel, scale: ctx.defaultScale });
 */
export function loadCiphertext(
  ctx: HeContext,
  bytes: Uint8Array,
  expect: CiphertextExpectations,
): Ciphertext {
  const what = 'ciphertext';
  checkBytes(bytes, what);
  if (expect === null || typeof expect !== 'object' || expect.layout === undefined) {
    throw new HeError('HE_INVALID_ARGUMENT', 'cannot load ciphertext: "expect.layout" is required');
  }
  if (expect.level !== undefined) ctx.level(expect.level);
  if (expect.scale !== undefined && (!Number.isFinite(expect.scale) || expect.scale <= 0)) {
    throw new HeError(
      'HE_INVALID_ARGUMENT',
      'cannot load ciphertext: "expect.scale" expected a finite positive number',
    );
  }
  // Size before anything else: the largest legitimate ciphertext at the expected level (or the top).
  checkLimit(
    bytes.length,
    Math.min(checkMaxArg(expect.maxBytes, what), maxCiphertextBytes(ctx, expect.level)),
    what,
  );
  const shape = checkCiphertextBytes(ctx, bytes, {
    what,
    role: 'data',
    ...(expect.level !== undefined ? { expectedLevel: expect.level } : {}),
    ...(expect.scale !== undefined ? { expectedScale: expect.scale } : {}),
    allowSeeded: expect.allowSeeded ?? true,
    exactLength: true,
  });
  const seal = ctx._seal;
  const raw = new seal.Ciphertext();
  const ct = new Ciphertext(ctx, raw, expect.layout);
  try {
    sealLoad(ctx, what, () => raw.loadFromArray(ctx._ctx, bytes));
    // Post-load: SEAL's view must agree with ours (a disagreement means a parser difference).
    let level: number;
    try {
      level = ctx._levelOf(raw);
    } catch {
      fail('HE_WRONG_LEVEL', what, 'after loading, its parms_id is not a data level');
    }
    if (level !== shape.level) fail('HE_WRONG_LEVEL', what, `after loading it is at level ${level}`);
    if (raw.size() !== 2) fail('HE_BAD_SIZE', what, `after loading it has ${raw.size()} polynomials`);
    if (!Object.is(raw.scale(), shape.scale)) fail('HE_BAD_SCALE', what, 'after loading its scale changed');
    if (raw.isNttForm() !== (ctx.params.scheme === 'ckks'))
      fail('HE_NOT_NTT', what, 'after loading its NTT form is wrong');
    if (raw.isTransparent()) fail('HE_TRANSPARENT', what, 'after loading it is transparent');
    if (
      raw.polyModulusDegree() !== ctx.params.polyModulusDegree ||
      raw.coeffModulusSize() !== ctx.level(level).primes.length
    ) {
      fail('HE_MALFORMED', what, 'after loading its ring degree or prime count is wrong');
    }
    return ct;
  } catch (e) {
    ct[Symbol.dispose]();
    throw e;
  }
}

/** {@link CiphertextExpectations} for a ciphertext inside an envelope. */
export interface CiphertextEnvelopeExpectations extends CiphertextExpectations {
  /** Envelope kind: `ciphertext` (an input, default) or `result` (returned by a server). */
  readonly kind?: 'ciphertext' | 'result';
}

/**
 * Unwraps a `ciphertext` (or `result`) envelope for this context's parameter set and loads it with
 * {@link loadCiphertext}. The envelope is size-limited by the same exact per-level bound.
 */
export function loadCiphertextEnvelope(
  ctx: HeContext,
  envelope: Uint8Array,
  expect: CiphertextEnvelopeExpectations,
): Ciphertext {
  checkBytes(envelope, 'ciphertext envelope');
  const limit = Math.min(
    checkMaxArg(expect?.maxBytes, 'ciphertext envelope'),
    ENVELOPE_HEADER_BYTES + maxCiphertextBytes(ctx, expect?.level),
  );
  const env = unwrap(envelope, {
    expectedKind: expect?.kind ?? 'ciphertext',
    expectedFingerprint: ctx.params,
    maxBytes: limit,
  });
  return loadCiphertext(ctx, env.payload, expect);
}

/**
 * Unwraps a `ciphertext-batch` envelope and loads every item. All items must pass; on the first
 * failure the already loaded ones are disposed and the error names the item.
 */
export function loadCiphertextBatchEnvelope(
  ctx: HeContext,
  envelope: Uint8Array,
  expect: CiphertextExpectations & { readonly maxItems: number },
): Ciphertext[] {
  checkBytes(envelope, 'ciphertext batch');
  if (!Number.isSafeInteger(expect?.maxItems) || expect.maxItems < 1) {
    throw new HeError(
      'HE_INVALID_ARGUMENT',
      'cannot load ciphertext batch: "maxItems" expected a positive integer',
    );
  }
  const perItem = ENVELOPE_HEADER_BYTES + maxCiphertextBytes(ctx, expect.level);
  const limit = Math.min(
    checkMaxArg(expect.maxBytes, 'ciphertext batch'),
    ENVELOPE_HEADER_BYTES + 8 + expect.maxItems * perItem,
  );
  const items = unwrapList(envelope, {
    expectedKind: 'ciphertext-batch',
    expectedFingerprint: ctx.params,
    maxBytes: limit,
    maxItems: expect.maxItems,
  });
  const out: Ciphertext[] = [];
  try {
    for (const [i, item] of items.entries()) {
      try {
        out.push(loadCiphertext(ctx, item.payload, { ...expect, maxBytes: undefined }));
      } catch (e) {
        if (e instanceof HeError) throw new HeError(e.code, `${e.message} (batch item ${i})`, { cause: e });
        throw e;
      }
    }
    return out;
  } catch (e) {
    for (const c of out) c[Symbol.dispose]();
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Evaluation keys.

/** Which evaluation keys a computation needs (from the signed model bundle, not from the client). */
export interface EvaluationKeyRequest {
  /** Relinearization keys required (true) or refused (false). */
  readonly relin: boolean;
  /** Exactly these rotation steps; keys for any other Galois element are refused. */
  readonly galoisSteps: readonly number[];
}

/** {@link EvaluationKeyRequest} plus an optional cap on the total bytes. */
export interface EvaluationKeyExpectations extends EvaluationKeyRequest {
  readonly maxBytes?: number;
}

function loadPublicKey(ctx: HeContext, bytes: Uint8Array): _SealPublicKey {
  const what = 'public key';
  checkBytes(bytes, what);
  checkLimit(bytes.length, keyCiphertextMaxBytes(ctx), what);
  checkCiphertextBytes(ctx, bytes, { what, role: 'key', allowSeeded: true, exactLength: true });
  const seal = ctx._seal;
  const pk = new seal.PublicKey();
  try {
    // SEAL's PublicKey load also checks key parms_id, NTT form and size 2 (is_valid_for).
    sealLoad(ctx, what, () => pk.loadFromArray(ctx._ctx, bytes));
    // node-seal exposes no accessors on PublicKey: re-read what SEAL holds from its own bytes.
    const again = new Uint8Array(pk.saveToArray(seal.ComprModeType.none) as Uint8Array);
    checkCiphertextBytes(ctx, again, {
      what: `${what} (after loading)`,
      role: 'key',
      allowSeeded: true,
      exactLength: true,
    });
    return pk;
  } catch (e) {
    pk.delete();
    throw e;
  }
}

/**
 * Walks a KSwitchKeys serialization (relinearization or Galois keys):
 * `header | parms_id | u64 slots | per slot: u64 count | count × key ciphertext`.
 * Calls `onSlot(index)` for each non-empty slot before reading its key ciphertexts, so unexpected
 * keys are refused before their bytes are examined.
 */
function checkKSwitchBytes(
  ctx: HeContext,
  bytes: Uint8Array,
  what: string,
  expectedSlots: number,
  onSlot: (index: number) => void,
): number[] {
  checkSealHeader(bytes, what, true, false);
  if (bytes.length < KSWITCH_PREFIX_BYTES) fail('HE_MALFORMED', what, 'truncated before the key list');
  const v = dataView(bytes);
  const key = keyLevel(ctx);
  const pid = [0, 1, 2, 3].map((i) => v.getBigUint64(SEAL_HEADER_BYTES + 8 * i, true));
  if (!sameWords(pid, key.parmsId)) {
    if (ctx.levelOfParmsId(pid) !== undefined)
      fail('HE_WRONG_LEVEL', what, 'they are at a data level, not the key level');
    fail('HE_WRONG_PRESET', what, 'their parms_id belongs to no level of this parameter set');
  }
  const slots = v.getBigUint64(48, true);
  if (slots !== BigInt(expectedSlots))
    fail('HE_MALFORMED', what, `declare ${slots} key slots, expected ${expectedSlots}`);
  const decomp = key.primes.length - 1;
  const present: number[] = [];
  let off = KSWITCH_PREFIX_BYTES;
  for (let index = 0; index < expectedSlots; index++) {
    if (off + 8 > bytes.length) fail('HE_MALFORMED', what, 'truncated inside the key list');
    const count = v.getBigUint64(off, true);
    off += 8;
    if (count === 0n) continue;
    onSlot(index);
    if (count !== BigInt(decomp))
      fail('HE_MALFORMED', what, `key ${index} has ${count} parts, expected ${decomp}`);
    present.push(index);
    for (let j = 0; j < decomp; j++) {
      const shape = checkCiphertextBytes(ctx, bytes.subarray(off), {
        what: `${what} (key ${index}, part ${j})`,
        role: 'key',
        allowSeeded: true,
        exactLength: false,
      });
      off += shape.length;
    }
  }
  if (off !== bytes.length) fail('HE_MALFORMED', what, `${bytes.length - off} trailing bytes after the keys`);
  return present;
}

function loadRelinKeys(ctx: HeContext, bytes: Uint8Array): _SealRelinKeys {
  const what = 'relinearization keys';
  checkBytes(bytes, what);
  checkLimit(bytes.length, maxEvaluationKeyBytes(ctx, { relin: true, galoisSteps: [] }).relinKeys, what);
  // One slot: the key for s² (SEAL's RelinKeys index 0). More slots would be keys for s³, s⁴…
  const present = checkKSwitchBytes(ctx, bytes, what, 1, () => {});
  if (present.length !== 1) fail('HE_MISSING_RELIN_KEYS', what, 'the key list is empty');
  const seal = ctx._seal;
  const rk = new seal.RelinKeys();
  try {
    sealLoad(ctx, what, () => rk.loadFromArray(ctx._ctx, bytes));
    if (rk.size() !== 1 || !rk.hasKey(2))
      fail('HE_MALFORMED', what, 'after loading the key for s² is not present');
    return rk;
  } catch (e) {
    rk.delete();
    throw e;
  }
}

function loadGaloisKeys(ctx: HeContext, bytes: Uint8Array, steps: readonly number[]): _SealGaloisKeys {
  const what = 'Galois keys';
  checkBytes(bytes, what);
  checkLimit(bytes.length, maxEvaluationKeyBytes(ctx, { relin: false, galoisSteps: steps }).galoisKeys, what);
  const elts = galoisElements(ctx, steps);
  // SEAL stores Galois keys in N slots, slot (elt − 1)/2 for element elt.
  const present = checkKSwitchBytes(ctx, bytes, what, ctx.params.polyModulusDegree, (index) => {
    const elt = 2 * index + 1;
    if (!elts.has(elt)) {
      fail(
        'HE_UNEXPECTED_KEY',
        what,
        `they include a key for Galois element ${elt}, which no requested step uses`,
      );
    }
  });
  const found = new Set(present.map((i) => 2 * i + 1));
  for (const [elt, step] of elts) {
    if (!found.has(elt))
      fail('HE_MISSING_GALOIS_KEY', what, `no key for rotation step ${step} (Galois element ${elt})`);
  }
  const seal = ctx._seal;
  const gk = new seal.GaloisKeys();
  try {
    sealLoad(ctx, what, () => gk.loadFromArray(ctx._ctx, bytes));
    if (gk.size() !== elts.size)
      fail('HE_MALFORMED', what, `after loading they hold ${gk.size()} keys, expected ${elts.size}`);
    for (const [elt, step] of elts) {
      if (!gk.hasKey(elt))
        fail('HE_MISSING_GALOIS_KEY', what, `after loading no key for rotation step ${step}`);
    }
    return gk;
  } catch (e) {
    gk.delete();
    throw e;
  }
}

/**
 * Loads a client's uploaded evaluation material into {@link EvaluationKeys} for this context.
 * Relinearization keys must be present exactly when `expect.relin`; Galois keys must cover exactly
 * the Galois elements of `expect.galoisSteps` (`HE_MISSING_GALOIS_KEY` / `HE_UNEXPECTED_KEY`).
 * Every key ciphertext is checked like a ciphertext (header, compression, key-level parms_id, size 2,
 * NTT, scale 1, reduced coefficients, non-transparent) before SEAL loads it.
 *
 * What cannot be checked: whether the keys belong to the client that sent them. Keys made from
 * another secret key are well-formed and indistinguishable without that secret; binding keys to a
 * client identity (registration under a client id, signatures) is the server's job.
 *
 * @example
 * using keys = loadEvaluationKeys(ctx, upload, { relin: true, galoisSteps: bundle.galoisSteps });
 */
export function loadEvaluationKeys(
  ctx: HeContext,
  material: PublicMaterialBytes,
  expect: EvaluationKeyExpectations,
): EvaluationKeys {
  if (material === null || typeof material !== 'object') {
    throw new HeError('HE_INVALID_ARGUMENT', 'cannot load evaluation keys: "material" expected an object');
  }
  if (
    expect === null ||
    typeof expect !== 'object' ||
    typeof expect.relin !== 'boolean' ||
    !Array.isArray(expect.galoisSteps)
  ) {
    throw new HeError(
      'HE_INVALID_ARGUMENT',
      'cannot load evaluation keys: "expect" needs "relin" (boolean) and "galoisSteps" (array)',
    );
  }
  const steps = normalizeSteps(ctx, expect.galoisSteps);
  const what = 'evaluation keys';
  if (expect.relin && material.relinKeys === undefined) {
    fail('HE_MISSING_RELIN_KEYS', what, 'relinearization keys are required and were not sent');
  }
  if (!expect.relin && material.relinKeys !== undefined) {
    fail('HE_UNEXPECTED_KEY', what, 'relinearization keys were sent but this computation does not use them');
  }
  if (steps.length > 0 && material.galoisKeys === undefined) {
    fail(
      'HE_MISSING_GALOIS_KEY',
      what,
      `Galois keys for steps ${steps.join(', ')} are required and were not sent`,
    );
  }
  if (steps.length === 0 && material.galoisKeys !== undefined) {
    fail('HE_UNEXPECTED_KEY', what, 'Galois keys were sent but this computation does not rotate');
  }
  const total =
    (material.publicKey?.length ?? 0) +
    (material.relinKeys?.length ?? 0) +
    (material.galoisKeys?.length ?? 0);
  checkLimit(
    total,
    Math.min(checkMaxArg(expect.maxBytes, what), maxEvaluationKeyBytes(ctx, expect).total),
    what,
  );
  let pk: _SealPublicKey | undefined;
  let rk: _SealRelinKeys | undefined;
  let gk: _SealGaloisKeys | undefined;
  try {
    pk = loadPublicKey(ctx, material.publicKey);
    if (material.relinKeys !== undefined) rk = loadRelinKeys(ctx, material.relinKeys);
    if (material.galoisKeys !== undefined) gk = loadGaloisKeys(ctx, material.galoisKeys, steps);
  } catch (e) {
    pk?.delete();
    rk?.delete();
    gk?.delete();
    throw e;
  }
  return new EvaluationKeys(ctx, pk, rk, gk, steps);
}

/**
 * Unwraps a `public-material` envelope for this context's parameter set and loads it with
 * {@link loadEvaluationKeys}; the envelope is size-limited by the exact bound for `expect`.
 */
export function loadPublicMaterialEnvelope(
  ctx: HeContext,
  envelope: Uint8Array,
  expect: EvaluationKeyExpectations,
): EvaluationKeys {
  checkBytes(envelope, 'public material');
  const parts = 1 + (expect?.relin ? 1 : 0) + ((expect?.galoisSteps?.length ?? 0) > 0 ? 1 : 0);
  const limit = Math.min(
    checkMaxArg(expect?.maxBytes, 'public material'),
    ENVELOPE_HEADER_BYTES + 8 + parts * ENVELOPE_HEADER_BYTES + maxEvaluationKeyBytes(ctx, expect).total,
  );
  const fp: FingerprintLike = ctx.params;
  const material = unwrapPublicMaterial(envelope, { expectedFingerprint: fp, maxBytes: limit });
  return loadEvaluationKeys(ctx, material, expect);
}

import { HeError } from './errors.ts';

/**
 * The versioned envelope around everything that crosses a trust boundary (client ↔ server, disk).
 * It says what the bytes are and for which parameter set, so a server can route, size-limit and
 * refuse a payload from its first 48 bytes, before any SEAL parsing.
 *
 * ```
 * offset size field
 *  0      4   magic "BDXE"
 *  4      1   format version (1)
 *  5      1   kind code (see ENVELOPE_KINDS)
 *  6      2   reserved, must be 0 (refused otherwise, so the field can gain a meaning later)
 *  8     32   preset fingerprint: the raw 32 bytes of Parameters.fingerprint (hex SHA-256)
 * 40      8   payload length, u64 little-endian; must equal the bytes that follow exactly
 * 48      …   payload
 * ```
 *
 * A list container (kinds `public-material` and `ciphertext-batch`) has as payload:
 * ```
 * count u32 | reserved u32 (0) | count × envelope, back to back (each self-delimiting)
 * ```
 * Lists do not nest (no recursion to bound), and every item carries the list's fingerprint.
 *
 * The envelope is integrity-free on purpose: authenticity comes from the transport and the
 * protocol layer's signatures; the envelope only makes parsing unambiguous and cheap to refuse.
 */
export const ENVELOPE_MAGIC = 'BDXE';
// Typed arrays cannot be frozen, so the byte form stays private.
const MAGIC_BYTES = new TextEncoder().encode(ENVELOPE_MAGIC);
/** Current (and only accepted) envelope format version. */
export const ENVELOPE_VERSION = 1;
/** Bytes before the payload. */
export const ENVELOPE_HEADER_BYTES = 48;
/** Bytes before the first item of a list payload. */
export const ENVELOPE_LIST_HEADER_BYTES = 8;
/**
 * Cap applied by {@link unwrap} when the caller gives no `maxBytes`: larger than the biggest
 * legitimate upload of the shipped presets (Galois keys at N=16384), far below WebAssembly's 4 GB.
 */
export const DEFAULT_MAX_ENVELOPE_BYTES = 256 * 1024 * 1024;
/** Default cap on the number of items in a list envelope. */
export const DEFAULT_MAX_LIST_ITEMS = 4096;

/**
 * Kind codes. Codes are part of the wire format: never renumber, only add.
 * - `ciphertext`: a SEAL ciphertext sent to be computed on (seeded or not).
 * - `public-key`, `relin-keys`, `galois-keys`: SEAL evaluation material.
 * - `public-material`: list of one `public-key`, at most one `relin-keys`, at most one `galois-keys`.
 * - `ciphertext-batch`: list of `ciphertext` items (patches, patients).
 * - `result`: a ciphertext computed by the server (kept distinct so a result cannot be replayed as
 *   an input, and an input cannot be passed off as a result).
 * - `parameters`: a JSON description of parameters (for non-preset contexts).
 */
export const ENVELOPE_KINDS = Object.freeze({
  ciphertext: 1,
  'public-key': 2,
  'relin-keys': 3,
  'galois-keys': 4,
  'public-material': 5,
  'ciphertext-batch': 6,
  result: 7,
  parameters: 8,
} as const);

/** Name of an envelope kind. */
export type EnvelopeKind = keyof typeof ENVELOPE_KINDS;
/** The kinds whose payload is a list of envelopes. */
export type EnvelopeListKind = 'public-material' | 'ciphertext-batch';

const KIND_BY_CODE = new Map<number, EnvelopeKind>(
  Object.entries(ENVELOPE_KINDS).map(([k, v]) => [v, k as EnvelopeKind]),
);
const LIST_KINDS: ReadonlySet<EnvelopeKind> = new Set(['public-material', 'ciphertext-batch']);

/** Something that names a parameter set: a hex fingerprint or an object carrying one (`Parameters`). */
export type FingerprintLike = string | { readonly fingerprint: string };

/** A parsed envelope. `payload` is a view into the input bytes (no copy). */
export interface Envelope {
  readonly version: number;
  readonly kind: EnvelopeKind;
  /** Hex SHA-256 fingerprint of the parameter set. */
  readonly fingerprint: string;
  readonly payload: Uint8Array;
}

/** What the header alone says; enough to size-limit a streamed body. */
export interface EnvelopeHeader {
  readonly version: number;
  readonly kind: EnvelopeKind;
  readonly fingerprint: string;
  readonly payloadLength: number;
  /** Header plus payload: the exact byte length the whole envelope must have. */
  readonly totalLength: number;
}

/** What {@link unwrap} requires of the bytes. Kind and fingerprint are mandatory: never guess. */
export interface UnwrapOptions {
  /** The kind (or one of the kinds) the caller is prepared to handle. */
  readonly expectedKind: EnvelopeKind | readonly EnvelopeKind[];
  /** The parameter set the caller's context was made from. */
  readonly expectedFingerprint: FingerprintLike;
  /** Refuse anything longer (whole envelope). Default {@link DEFAULT_MAX_ENVELOPE_BYTES}. */
  readonly maxBytes?: number;
}

/** Options of {@link unwrapList}: those of {@link unwrap} plus an item cap. */
export interface UnwrapListOptions extends Omit<UnwrapOptions, 'expectedKind'> {
  readonly expectedKind: EnvelopeListKind;
  /** Refuse lists with more items. Default {@link DEFAULT_MAX_LIST_ITEMS}. */
  readonly maxItems?: number;
}

function fingerprintOf(f: FingerprintLike, op: string, arg: string): string {
  const hex = typeof f === 'string' ? f : f?.fingerprint;
  if (typeof hex !== 'string' || !/^[0-9a-f]{64}$/.test(hex)) {
    throw new HeError(
      'HE_INVALID_ARGUMENT',
      `cannot ${op}: "${arg}" expected a 64-hex-digit SHA-256 fingerprint`,
    );
  }
  return hex;
}

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function bytesToHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

function checkBytes(bytes: unknown, op: string): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new HeError('HE_INVALID_ARGUMENT', `cannot ${op}: "bytes" expected a Uint8Array`);
  }
}

function checkMax(max: number | undefined, fallback: number, op: string, arg: string): number {
  const m = max ?? fallback;
  if (!Number.isSafeInteger(m) || m < 0) {
    throw new HeError('HE_INVALID_ARGUMENT', `cannot ${op}: "${arg}" expected a non-negative integer`);
  }
  return m;
}

/**
 * Wraps `payload` in an envelope of `kind` for the parameter set `params`.
 *
 * @example
 * const env = wrap('ciphertext', ctx.params, encryptSymmetricSeeded(keys, pt));
 */
export function wrap(kind: EnvelopeKind, params: FingerprintLike, payload: Uint8Array): Uint8Array {
  const code = ENVELOPE_KINDS[kind];
  if (code === undefined || !Object.hasOwn(ENVELOPE_KINDS, kind)) {
    throw new HeError('HE_INVALID_ARGUMENT', `cannot wrap: unknown envelope kind "${String(kind)}"`);
  }
  checkBytes(payload, 'wrap');
  const fp = fingerprintOf(params, 'wrap', 'params');
  const out = new Uint8Array(ENVELOPE_HEADER_BYTES + payload.length);
  const v = new DataView(out.buffer);
  out.set(MAGIC_BYTES, 0);
  v.setUint8(4, ENVELOPE_VERSION);
  v.setUint8(5, code);
  out.set(hexToBytes(fp), 8);
  v.setBigUint64(40, BigInt(payload.length), true);
  out.set(payload, ENVELOPE_HEADER_BYTES);
  return out;
}

/**
 * Checks an envelope header (the first {@link ENVELOPE_HEADER_BYTES} bytes suffice) and returns the
 * exact total length the envelope declares, so a server can stop reading a body early. Checks, in
 * order: length ≤ maxBytes (`HE_TOO_LARGE`), header present (`HE_MALFORMED`), magic
 * (`HE_BAD_MAGIC`), version (`HE_BAD_VERSION`), reserved bytes and kind code (`HE_MALFORMED`), kind
 * (`HE_WRONG_KIND`), fingerprint (`HE_WRONG_PRESET`), declared length ≤ maxBytes (`HE_TOO_LARGE`).
 */
export function readEnvelopeHeader(bytes: Uint8Array, opts: UnwrapOptions): EnvelopeHeader {
  checkBytes(bytes, 'read envelope');
  if (opts === null || typeof opts !== 'object') {
    throw new HeError('HE_INVALID_ARGUMENT', 'cannot read envelope: "opts" expected an object');
  }
  const maxBytes = checkMax(opts.maxBytes, DEFAULT_MAX_ENVELOPE_BYTES, 'read envelope', 'maxBytes');
  const expectedKinds: readonly EnvelopeKind[] =
    typeof opts.expectedKind === 'string' ? [opts.expectedKind] : (opts.expectedKind ?? []);
  if (expectedKinds.length === 0 || expectedKinds.some((k) => !Object.hasOwn(ENVELOPE_KINDS, k))) {
    throw new HeError('HE_INVALID_ARGUMENT', 'cannot read envelope: "expectedKind" must name known kinds');
  }
  const expectedFp = fingerprintOf(opts.expectedFingerprint, 'read envelope', 'expectedFingerprint');
  // Size first: a caller that hands over an oversized buffer learns so without any parsing.
  if (bytes.length > maxBytes) {
    throw new HeError(
      'HE_TOO_LARGE',
      `cannot read envelope: ${bytes.length} bytes exceeds the limit of ${maxBytes}`,
    );
  }
  if (bytes.length < ENVELOPE_HEADER_BYTES) {
    throw new HeError(
      'HE_MALFORMED',
      `cannot read envelope: ${bytes.length} bytes is shorter than the ${ENVELOPE_HEADER_BYTES}-byte header`,
    );
  }
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== MAGIC_BYTES[i]) {
      throw new HeError('HE_BAD_MAGIC', 'cannot read envelope: not a BlindDx envelope (bad magic)');
    }
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = v.getUint8(4);
  if (version !== ENVELOPE_VERSION) {
    throw new HeError(
      'HE_BAD_VERSION',
      `cannot read envelope: format version ${version} is not supported (expected ${ENVELOPE_VERSION})`,
    );
  }
  if (v.getUint16(6, true) !== 0)
    throw new HeError('HE_MALFORMED', 'cannot read envelope: reserved bytes are not zero');
  const kind = KIND_BY_CODE.get(v.getUint8(5));
  if (kind === undefined) {
    throw new HeError('HE_MALFORMED', `cannot read envelope: unknown kind code ${v.getUint8(5)}`);
  }
  if (!expectedKinds.includes(kind)) {
    throw new HeError(
      'HE_WRONG_KIND',
      `cannot read envelope: got a ${kind}, expected ${expectedKinds.join(' or ')}`,
    );
  }
  const fingerprint = bytesToHex(bytes.subarray(8, 40));
  if (fingerprint !== expectedFp) {
    throw new HeError(
      'HE_WRONG_PRESET',
      `cannot read envelope: it is for parameter set ${fingerprint.slice(0, 12)}…, expected ${expectedFp.slice(0, 12)}…`,
    );
  }
  const declared = v.getBigUint64(40, true);
  if (declared > BigInt(maxBytes - ENVELOPE_HEADER_BYTES)) {
    throw new HeError(
      'HE_TOO_LARGE',
      `cannot read envelope: declared payload of ${declared} bytes exceeds the limit of ${maxBytes} in total`,
    );
  }
  const payloadLength = Number(declared);
  return { version, kind, fingerprint, payloadLength, totalLength: ENVELOPE_HEADER_BYTES + payloadLength };
}

/**
 * Parses and checks an envelope (see {@link readEnvelopeHeader} for the order of checks); then the
 * declared payload length must equal the bytes present (`HE_MALFORMED`: truncated or trailing).
 *
 * @example
 * const { payload } = unwrap(body, { expectedKind: 'ciphertext', expectedFingerprint: ctx.params });
 */
export function unwrap(bytes: Uint8Array, opts: UnwrapOptions): Envelope {
  const h = readEnvelopeHeader(bytes, opts);
  if (h.totalLength !== bytes.length) {
    throw new HeError(
      'HE_MALFORMED',
      `cannot read envelope: header declares ${h.totalLength} bytes, got ${bytes.length} (${h.totalLength > bytes.length ? 'truncated' : 'trailing bytes'})`,
    );
  }
  return {
    version: h.version,
    kind: h.kind,
    fingerprint: h.fingerprint,
    payload: bytes.subarray(ENVELOPE_HEADER_BYTES),
  };
}

/**
 * Wraps a list of envelopes (each made by {@link wrap} for the same parameter set) into one
 * envelope of a list kind. Item kinds are checked against the list kind.
 *
 * @example
 * const batch = wrapList('ciphertext-batch', ctx.params, patches.map((b) => wrap('ciphertext', ctx.params, b)));
 */
export function wrapList(
  kind: EnvelopeListKind,
  params: FingerprintLike,
  items: readonly Uint8Array[],
): Uint8Array {
  if (!LIST_KINDS.has(kind)) {
    throw new HeError('HE_INVALID_ARGUMENT', `cannot wrap list: "${String(kind)}" is not a list kind`);
  }
  const fp = fingerprintOf(params, 'wrap list', 'params');
  if (!Array.isArray(items))
    throw new HeError('HE_INVALID_ARGUMENT', 'cannot wrap list: "items" expected an array');
  const parsed = items.map((item, i) => {
    try {
      return unwrap(item, {
        expectedKind: itemKinds(kind),
        expectedFingerprint: fp,
        maxBytes: Number.MAX_SAFE_INTEGER,
      });
    } catch (e) {
      throw new HeError('HE_INVALID_ARGUMENT', `cannot wrap list: items[${i}] is not a valid item envelope`, {
        cause: e,
      });
    }
  });
  checkListShape(kind, parsed, 'wrap list');
  const total = ENVELOPE_LIST_HEADER_BYTES + items.reduce((a, b) => a + b.length, 0);
  const payload = new Uint8Array(total);
  new DataView(payload.buffer).setUint32(0, items.length, true);
  let off = ENVELOPE_LIST_HEADER_BYTES;
  for (const item of items) {
    payload.set(item, off);
    off += item.length;
  }
  return wrap(kind, fp, payload);
}

function itemKinds(kind: EnvelopeListKind): EnvelopeKind[] {
  return kind === 'public-material' ? ['public-key', 'relin-keys', 'galois-keys'] : ['ciphertext'];
}

function checkListShape(kind: EnvelopeListKind, items: readonly Envelope[], op: string): void {
  if (kind !== 'public-material') return;
  const count = (k: EnvelopeKind) => items.filter((e) => e.kind === k).length;
  if (count('public-key') !== 1 || count('relin-keys') > 1 || count('galois-keys') > 1) {
    throw new HeError(
      'HE_MALFORMED',
      `cannot ${op}: public material must hold exactly one public key and at most one set each of relinearization and Galois keys`,
    );
  }
}

/**
 * Parses a list envelope: the outer envelope as {@link unwrap}, then the item count (≤ maxItems,
 * else `HE_TOO_LARGE`), then each item as an envelope of an allowed item kind with the same
 * fingerprint; items must tile the payload exactly (`HE_MALFORMED`). Returned payloads are views.
 */
export function unwrapList(bytes: Uint8Array, opts: UnwrapListOptions): Envelope[] {
  if (opts === null || typeof opts !== 'object' || !LIST_KINDS.has(opts.expectedKind)) {
    throw new HeError('HE_INVALID_ARGUMENT', 'cannot read envelope list: "expectedKind" must be a list kind');
  }
  const maxItems = checkMax(opts.maxItems, DEFAULT_MAX_LIST_ITEMS, 'read envelope list', 'maxItems');
  const outer = unwrap(bytes, opts);
  const p = outer.payload;
  if (p.length < ENVELOPE_LIST_HEADER_BYTES) {
    throw new HeError('HE_MALFORMED', 'cannot read envelope list: payload is shorter than the list header');
  }
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const count = v.getUint32(0, true);
  if (v.getUint32(4, true) !== 0) {
    throw new HeError('HE_MALFORMED', 'cannot read envelope list: reserved bytes are not zero');
  }
  if (count > maxItems) {
    throw new HeError(
      'HE_TOO_LARGE',
      `cannot read envelope list: ${count} items exceeds the limit of ${maxItems}`,
    );
  }
  // Each item needs at least a header: a count that cannot fit is refused before the loop.
  if (count * ENVELOPE_HEADER_BYTES > p.length - ENVELOPE_LIST_HEADER_BYTES) {
    throw new HeError(
      'HE_MALFORMED',
      `cannot read envelope list: ${count} items cannot fit in ${p.length} bytes`,
    );
  }
  const items: Envelope[] = [];
  let off = ENVELOPE_LIST_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const rest = p.subarray(off);
    const itemOpts = { expectedKind: itemKinds(opts.expectedKind), expectedFingerprint: outer.fingerprint };
    let h: EnvelopeHeader;
    try {
      h = readEnvelopeHeader(rest, { ...itemOpts, maxBytes: Number.MAX_SAFE_INTEGER });
    } catch (e) {
      if (e instanceof HeError) throw new HeError(e.code, `${e.message} (item ${i})`, { cause: e });
      throw e;
    }
    if (h.totalLength > rest.length) {
      throw new HeError('HE_MALFORMED', `cannot read envelope list: item ${i} is truncated`);
    }
    items.push({
      version: h.version,
      kind: h.kind,
      fingerprint: h.fingerprint,
      payload: rest.subarray(ENVELOPE_HEADER_BYTES, h.totalLength),
    });
    off += h.totalLength;
  }
  if (off !== p.length) {
    throw new HeError(
      'HE_MALFORMED',
      `cannot read envelope list: ${p.length - off} trailing bytes after the items`,
    );
  }
  checkListShape(opts.expectedKind, items, 'read envelope list');
  return items;
}

/** The SEAL byte strings of uploaded public evaluation material (shape of `PublicMaterial` in keys.ts). */
export interface PublicMaterialBytes {
  readonly publicKey: Uint8Array;
  readonly relinKeys?: Uint8Array;
  readonly galoisKeys?: Uint8Array;
}

/**
 * Wraps a client's public material (`KeySet.exportPublic()`) as one `public-material` envelope.
 * The Galois steps are deliberately not carried: the server checks the keys against the steps the
 * signed model bundle needs, never against what the client claims.
 */
export function wrapPublicMaterial(params: FingerprintLike, m: PublicMaterialBytes): Uint8Array {
  if (m === null || typeof m !== 'object' || !(m.publicKey instanceof Uint8Array)) {
    throw new HeError(
      'HE_INVALID_ARGUMENT',
      'cannot wrap public material: "publicKey" expected a Uint8Array',
    );
  }
  const items = [wrap('public-key', params, m.publicKey)];
  if (m.relinKeys !== undefined) items.push(wrap('relin-keys', params, m.relinKeys));
  if (m.galoisKeys !== undefined) items.push(wrap('galois-keys', params, m.galoisKeys));
  return wrapList('public-material', params, items);
}

/** Parses a `public-material` envelope into its SEAL byte strings (views, not yet loaded). */
export function unwrapPublicMaterial(
  bytes: Uint8Array,
  opts: Omit<UnwrapListOptions, 'expectedKind' | 'maxItems'>,
): PublicMaterialBytes {
  const items = unwrapList(bytes, { ...opts, expectedKind: 'public-material', maxItems: 3 });
  const find = (k: EnvelopeKind) => items.find((e) => e.kind === k)?.payload;
  const relinKeys = find('relin-keys');
  const galoisKeys = find('galois-keys');
  return {
    publicKey: find('public-key')!,
    ...(relinKeys ? { relinKeys } : {}),
    ...(galoisKeys ? { galoisKeys } : {}),
  };
}

// A high-level encrypted-vector API for application developers, in the spirit of TenSEAL's
// CKKSVector: encrypt an array, compute on it with plain numbers, plain arrays, plain matrices or
// other encrypted vectors, decrypt. Relinearization, rescaling, level matching and scale alignment
// happen inside; every object that holds WebAssembly memory is disposable.
//
// Slot layout of a vector of length L in a context of period p (p = next power of two ≥ maxLength):
//
//   slot:   0    1   …  L−1 | L … p−1 | p   p+1 … | …            (N/2 slots in all)
//   value: x0   x1   …  xL−1 | 0 … 0   | x0  x1  … | …            (N/2 / p copies)
//
// The copies make a rotation by r act as a cyclic rotation inside each period, which is what sum
// (InnerSum) and matmul (BSGS diagonals) rely on. Padding slots hold zeros ("clean") except after
// sum/dot, which spread the total over the whole period; such a vector is marked unclean and is
// masked (one level) before anything that needs zero padding.
//
// Scale management. Every vector keeps a scale ≈ Δ = 2^scaleBits:
// - × plain (scalar or array): the plaintext is encoded at the scale q of the prime the following
//   rescale removes, so the result scale is exactly the input's (Δ·q/q).
// - × integer scalar (|v| ≤ 2^20): encoded at scale 1 over all slots, exact, no level consumed.
// - × encrypted: the result scale is Δa·Δb/q, which differs from Δ by the prime's distance from a
//   power of two (|1 − q/2^k| ≈ 7e-7 for the 40-bit primes of N=8192, ≈ 3e-5 for the 32-bit prime of
//   N=4096). Adding two vectors at different levels whose scales differ by such drift costs no
//   precision: the higher one is brought down with a last step that multiplies by the constant 1
//   encoded at the scale that makes its rescale land exactly on the other's scale. Only two
//   same-level vectors with different histories are re-labelled: the second takes the first's
//   scale, which multiplies its values by (1 + r), r the relative scale difference, bounded by
//   MAX_SCALE_DRIFT (2^-10). Larger differences are refused (`HE_SCALE_MISMATCH`): a bug, not drift.

import { HeContext } from './context.ts';
import { decrypt, encryptPublic, encryptSymmetric, encryptSymmetricSeeded } from './crypt.ts';
import { decodeSlots, encodeSlots, nextPow2 } from './encoder.ts';
import { ENVELOPE_HEADER_BYTES, readEnvelopeHeader, unwrap, wrap, wrapPublicMaterial } from './envelope.ts';
import { HeError, isHeError } from './errors.ts';
import { Evaluator, innerSumSteps } from './evaluator.ts';
import type { Ciphertext } from './handles.ts';
import { loadCiphertextEnvelope, loadPublicMaterialEnvelope } from './hardened-load.ts';
import { type EvaluationKeys, generateKeys, KeySet } from './keys.ts';
import { matVec, type PlainMatrix, planMatVec } from './linear-transform.ts';
import { createParameters, type Parameters, type ParametersLiteral, parametersToLiteral } from './params.ts';
import { evaluatePolynomial, polynomialDepth } from './polynomial.ts';
import { getPreset, presetByFingerprint } from './presets.ts';

/**
 * Largest relative scale difference that ct + ct silently aligns (2^-10). Prime-versus-power-of-two
 * drift of the shipped presets is below 1e-4 even after several products; anything larger means the
 * operands were never meant to be added.
 */
export const MAX_SCALE_DRIFT = 2 ** -10;

/** Integer scalars up to this magnitude multiply at scale 1 without consuming a level. */
const EXACT_INTEGER_LIMIT = 2 ** 20;
/** Longest JSON description of a public context accepted by {@link VectorContext.loadPublic}. */
const MAX_DESCRIPTION_BYTES = 64 * 1024;
const CONTEXT_MAGIC = 'BDXC';
const VECTOR_MAGIC = 'BDXV';
const FORMAT_VERSION = 1;
const PREFIX_BYTES = 8;
const VECTOR_PREFIX_BYTES = 16;

/** What the vectors of a context will be used for; decides the keys, and nothing more. */
export interface VectorCapabilities {
  /** Longest vector that will be encrypted (1…N/2). The slot period is the next power of two. */
  readonly maxLength: number;
  /** Encrypted × encrypted products (`mul`/`dot` of two encrypted vectors, `polyval` of degree ≥ 2): relinearization keys. */
  readonly multiply?: boolean;
  /** `sum()` and `dot()`: Galois keys for the InnerSum steps p/2, p/4, …, 1. */
  readonly sum?: boolean;
  /** `matmul()` with any matrix up to p×p: Galois keys for every baby-step/giant-step rotation. */
  readonly matmul?: boolean;
  /**
   * `matmul()` with these matrices only: Galois keys for exactly the steps their plans list (sparse
   * matrices skip zero diagonals and need fewer keys). Ignored when `matmul` is true.
   */
  readonly matrices?: readonly PlainMatrix[];
}

/** The keys a set of capabilities needs, known before any key exists. */
export interface VectorKeyPlan {
  /** Slot period: next power of two ≥ maxLength. */
  readonly period: number;
  readonly relin: boolean;
  /** Exactly the rotation steps needed, sorted (never "all powers of two"). */
  readonly galoisSteps: readonly number[];
}

function invalid(op: string, message: string): never {
  throw new HeError('HE_INVALID_ARGUMENT', `cannot ${op}: ${message}`);
}

/**
 * Plans the keys of a vector context: the period from `maxLength`, relinearization keys for
 * `multiply`, and the union of the rotation steps of `sum` and `matmul`/`matrices`.
 *
 * @example
 * planVectorKeys(getPreset('ckks-8192-d2'), { maxLength: 10, sum: true });
 * // { period: 16, relin: false, galoisSteps: [1, 2, 4, 8] }
 */
export function planVectorKeys(params: Parameters, caps: VectorCapabilities): VectorKeyPlan {
  const op = 'plan vector keys';
  if (caps === null || typeof caps !== 'object') invalid(op, '"capabilities" expected an object');
  if (params.scheme !== 'ckks' || params.scaleBits === undefined) {
    invalid(op, 'vectors need a CKKS preset with a default scale');
  }
  const { maxLength } = caps;
  if (!Number.isInteger(maxLength) || maxLength < 1 || maxLength > params.slots) {
    invalid(op, `"maxLength" expected an integer in 1…${params.slots}, got ${String(maxLength)}`);
  }
  for (const k of ['multiply', 'sum', 'matmul'] as const) {
    if (caps[k] !== undefined && typeof caps[k] !== 'boolean') invalid(op, `"${k}" expected a boolean`);
  }
  if (caps.matrices !== undefined && !Array.isArray(caps.matrices))
    invalid(op, '"matrices" expected an array');
  const period = nextPow2(maxLength);
  const steps = new Set<number>();
  if (caps.sum) for (const s of innerSumSteps(period)) steps.add(s);
  if (caps.matmul) {
    for (const s of denseMatVecSteps(period)) steps.add(s);
  } else {
    for (const m of caps.matrices ?? []) for (const s of planMatVec(m, { period }).galoisSteps) steps.add(s);
  }
  return Object.freeze({
    period,
    relin: caps.multiply === true,
    galoisSteps: Object.freeze([...steps].sort((a, b) => a - b)),
  });
}

/**
 * The rotation steps {@link planMatVec} lists for a dense p×p matrix (every diagonal present):
 * baby steps 1…n1−1 and giant steps n1, 2·n1, …, p − n1 with n1 = 2^⌈log2 √p⌉. Computed directly
 * because building a dense p×p matrix to plan it would cost p² memory (128 MB at p = 4096).
 *
 * @example
 * denseMatVecSteps(16); // [1, 2, 3, 4, 8, 12]
 */
export function denseMatVecSteps(period: number): number[] {
  const n1 = 2 ** Math.ceil(Math.log2(Math.sqrt(period)));
  const steps: number[] = [];
  for (let b = 1; b < Math.min(n1, period); b++) steps.push(b);
  for (let g = n1; g < period; g += n1) steps.push(g);
  return [...new Set(steps)].sort((a, b) => a - b);
}

/** Options of {@link VectorContext.loadPublic}. */
export interface LoadPublicOptions {
  /**
   * Parameter set the server accepts. Default: any shipped preset, never an arbitrary literal.
   * Servers should pin the one they serve: even shipped presets differ 100× in cost (an N=32768
   * context takes ~12 s and ~1 GB to build).
   */
  readonly expectedFingerprint?: string;
  /**
   * Capabilities the server is prepared to serve. When given, the keys must match exactly what they
   * need (extra or missing keys are refused); otherwise the bytes' own declaration is used.
   */
  readonly capabilities?: VectorCapabilities;
  /** Byte cap on the whole public context, checked first (the keys also get their exact bound). */
  readonly maxBytes?: number;
}

interface ContextDescription {
  readonly parameters: ParametersLiteral;
  readonly maxLength: number;
  readonly multiply: boolean;
  readonly sum: boolean;
  readonly matmul: boolean;
  readonly period: number;
  readonly relin: boolean;
  readonly galoisSteps: readonly number[];
}

function writePrefix(out: Uint8Array, magic: string): DataView {
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out.set(new TextEncoder().encode(magic), 0);
  v.setUint8(4, FORMAT_VERSION);
  return v;
}

function readPrefix(bytes: Uint8Array, magic: string, size: number, what: string): DataView {
  if (!(bytes instanceof Uint8Array)) invalid(`load ${what}`, '"bytes" expected a Uint8Array');
  if (bytes.length < size) {
    throw new HeError(
      'HE_MALFORMED',
      `cannot load ${what}: ${bytes.length} bytes is shorter than its header`,
    );
  }
  if (new TextDecoder().decode(bytes.subarray(0, 4)) !== magic) {
    throw new HeError('HE_BAD_MAGIC', `cannot load ${what}: not a BlindDx ${what} (magic ${magic} expected)`);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint8(4) !== FORMAT_VERSION) {
    throw new HeError('HE_BAD_VERSION', `cannot load ${what}: format version ${v.getUint8(4)}, expected 1`);
  }
  return v;
}

/**
 * A CKKS context for encrypted vectors: parameters, keys for exactly the declared capabilities, and
 * an evaluator. The client's context holds the secret key; a server's context, loaded from
 * {@link VectorContext.exportPublic} bytes, can evaluate but not decrypt.
 *
 * Public context bytes:
 * ```
 * "BDXC" | version u8 = 1 | 3 reserved bytes (0)
 * envelope 'parameters'      : UTF-8 JSON {parameters literal, maxLength, capabilities, period, relin, galoisSteps}
 * envelope 'public-material' : public key, relinearization keys?, Galois keys? (SEAL seeded, uncompressed)
 * ```
 *
 * @example
 * using vctx = await VectorContext.create('ckks-8192-d2', { maxLength: 4, sum: true });
 * using v = vctx.encrypt([1, 2, 3, 4]);
 * using s = v.sum();
 * s.decrypt(); // ≈ [10]
 */
export class VectorContext {
  /** Validated parameters (a shipped preset or a literal's). */
  readonly params: Parameters;
  /** What the keys allow, as declared. */
  readonly capabilities: Readonly<Required<Omit<VectorCapabilities, 'matrices'>>>;
  /** Slot period p, relinearization flag and exact rotation steps. */
  readonly plan: VectorKeyPlan;
  readonly #he: HeContext;
  readonly #keys: EvaluationKeys;
  readonly #secret: KeySet | undefined;
  readonly #ev: Evaluator;
  /** Open {@link VectorContext.tidy} scopes, innermost last. */
  readonly #scopes: Set<EncryptedVector>[] = [];
  #disposed = false;

  private constructor(he: HeContext, keys: EvaluationKeys, caps: VectorCapabilities, plan: VectorKeyPlan) {
    this.#he = he;
    this.#keys = keys;
    this.#secret = keys instanceof KeySet ? keys : undefined;
    this.#ev = new Evaluator(he, keys);
    this.params = he.params;
    this.plan = plan;
    this.capabilities = Object.freeze({
      maxLength: caps.maxLength,
      multiply: caps.multiply === true,
      sum: caps.sum === true,
      matmul: caps.matmul === true,
    });
  }

  /**
   * Creates a context with a fresh secret key and the evaluation keys `capabilities` need.
   * Throws `HE_UNKNOWN_PRESET`, `HE_INVALID_ARGUMENT` (e.g. a BFV preset or maxLength > N/2).
   *
   * @example
   * using vctx = await VectorContext.create('ckks-8192-d2', { maxLength: 64, multiply: true, sum: true });
   */
  static async create(preset: string | Parameters, capabilities: VectorCapabilities): Promise<VectorContext> {
    const params = typeof preset === 'string' ? getPreset(preset) : preset;
    const plan = planVectorKeys(params, capabilities);
    const he = await HeContext.create(typeof preset === 'string' ? preset : params);
    try {
      const keys = generateKeys(he, { relin: plan.relin, galoisSteps: plan.galoisSteps });
      return new VectorContext(he, keys, capabilities, plan);
    } catch (e) {
      he[Symbol.dispose]();
      throw e;
    }
  }

  /**
   * Rebuilds an evaluation-only context from {@link VectorContext.exportPublic} bytes: everything
   * passes the envelope and hardened-loading checks (size limits, no compression, SEAL fields, exact
   * Galois elements). `decrypt` on its vectors throws `HE_MISSING_SECRET_KEY`.
   *
   * @example
   * using server = await VectorContext.loadPublic(publicBytes);
   * using v = EncryptedVector.deserialize(server, vectorBytes);
   * using r = v.mul(0.5);
   * const reply = r.serialize();
   */
  static async loadPublic(bytes: Uint8Array, opts: LoadPublicOptions = {}): Promise<VectorContext> {
    const what = 'public context';
    if (opts === null || typeof opts !== 'object') invalid(`load ${what}`, '"opts" expected an object');
    if (bytes instanceof Uint8Array && opts.maxBytes !== undefined && bytes.length > opts.maxBytes) {
      throw new HeError(
        'HE_TOO_LARGE',
        `cannot load ${what}: ${bytes.length} bytes exceeds ${opts.maxBytes}`,
      );
    }
    readPrefix(bytes, CONTEXT_MAGIC, PREFIX_BYTES, what);
    if ((bytes[5] | bytes[6] | bytes[7]) !== 0) {
      throw new HeError('HE_MALFORMED', `cannot load ${what}: reserved header bytes are not zero`);
    }
    const rest = bytes.subarray(PREFIX_BYTES);
    if (rest.length < ENVELOPE_HEADER_BYTES)
      throw new HeError('HE_MALFORMED', `cannot load ${what}: truncated`);
    // The fingerprint is read from the header, then recomputed from the JSON and compared, and must
    // name a parameter set this server accepts, before any SEAL object exists.
    const declared = [...rest.subarray(8, 40)].map((b) => b.toString(16).padStart(2, '0')).join('');
    const accepted = opts.expectedFingerprint ?? presetByFingerprint(declared)?.params.fingerprint;
    if (accepted === undefined || accepted !== declared) {
      throw new HeError(
        'HE_WRONG_PRESET',
        `cannot load ${what}: its parameter set ${declared.slice(0, 12)}… is not accepted here`,
      );
    }
    // The header alone is checked first (kind, fingerprint, declared length ≤ the description cap).
    const head = readEnvelopeHeader(rest.subarray(0, ENVELOPE_HEADER_BYTES), {
      expectedKind: 'parameters',
      expectedFingerprint: accepted,
      maxBytes: ENVELOPE_HEADER_BYTES + MAX_DESCRIPTION_BYTES,
    });
    const env = unwrap(rest.subarray(0, head.totalLength), {
      expectedKind: 'parameters',
      expectedFingerprint: accepted,
      maxBytes: ENVELOPE_HEADER_BYTES + MAX_DESCRIPTION_BYTES,
    });
    const desc = parseDescription(env.payload);
    const params = createParameters(desc.parameters);
    if (params.fingerprint !== accepted) {
      throw new HeError(
        'HE_WRONG_PRESET',
        `cannot load ${what}: its parameters do not match its fingerprint`,
      );
    }
    const caps: VectorCapabilities = opts.capabilities ?? desc;
    const plan = opts.capabilities ? planVectorKeys(params, caps) : declaredPlan(params, desc);
    const preset = presetByFingerprint(params.fingerprint);
    const he = await HeContext.create(preset?.name ?? params);
    try {
      const keys = loadPublicMaterialEnvelope(he, rest.subarray(head.totalLength), {
        relin: plan.relin,
        galoisSteps: plan.galoisSteps,
      });
      return new VectorContext(he, keys, caps, plan);
    } catch (e) {
      he[Symbol.dispose]();
      throw e;
    }
  }

  /**
   * Runs `fn` and disposes every vector created inside it except those it returns (a vector or an
   * array of vectors), so operations can be chained without leaking WebAssembly memory (the
   * pattern of tfjs `tidy`). Nests; if `fn` throws, everything it created is disposed.
   *
   * @example
   * using score = vctx.tidy(() => x.mul(w).add(b).polyval([0.5, 0.197, 0, -0.004]).sum());
   */
  tidy<T>(fn: () => T): T {
    this.#check('tidy');
    const scope = new Set<EncryptedVector>();
    this.#scopes.push(scope);
    let result: T;
    try {
      result = fn();
    } catch (e) {
      for (const v of scope) v[Symbol.dispose]();
      throw e;
    } finally {
      this.#scopes.pop();
    }
    const kept = new Set<unknown>(Array.isArray(result) ? result : [result]);
    for (const v of scope) {
      // A kept vector now belongs to the enclosing scope, if there is one.
      if (kept.has(v)) this._track(v);
      else v[Symbol.dispose]();
    }
    return result;
  }

  /** @internal records a new vector in the innermost {@link VectorContext.tidy} scope. */
  _track(v: EncryptedVector): void {
    this.#scopes.at(-1)?.add(v);
  }

  /** True when this context can decrypt (it holds the secret key). */
  get hasSecretKey(): boolean {
    return this.#secret !== undefined;
  }

  /** Slot period p of every vector of this context. */
  get period(): number {
    return this.plan.period;
  }

  /** Levels (rescales) a fresh vector has. */
  get maxLevel(): number {
    return this.params.maxLevel;
  }

  /** @internal */
  get _he(): HeContext {
    this.#check('use vector context');
    return this.#he;
  }
  /** @internal */
  get _ev(): Evaluator {
    this.#check('use vector context');
    return this.#ev;
  }
  /** @internal throws `HE_MISSING_SECRET_KEY` on a public context. */
  _secretKeys(op: string): KeySet {
    this.#check(op);
    if (this.#secret === undefined) {
      throw new HeError(
        'HE_MISSING_SECRET_KEY',
        `cannot ${op}: this is a public context (evaluation keys only, no secret key)`,
      );
    }
    return this.#secret;
  }

  /**
   * Encrypts up to `maxLength` finite numbers (symmetric with the secret key on the client; with
   * the public key on a server).
   *
   * @example
   * using v = vctx.encrypt([0.5, -1, 2]);
   */
  encrypt(values: ArrayLike<number>): EncryptedVector {
    this.#check('encrypt');
    this.#checkValues(values, 'encrypt vector');
    using pt = encodeSlots(this.#he, values, { period: this.period });
    const ct = this.#secret ? encryptSymmetric(this.#secret, pt) : encryptPublic(this.#keys, pt);
    return EncryptedVector._wrap(this, ct, true);
  }

  /**
   * Encrypts straight to {@link EncryptedVector.serialize}-compatible bytes in SEAL's seeded form:
   * the second polynomial is replaced by a 64-byte seed, so an upload is about half the size. Needs
   * the secret key (the seed belongs to symmetric encryption).
   *
   * @example
   * const upload = vctx.encryptSerialized([0.5, -1, 2]); // ≈ ½ of vctx.encrypt(…).serialize()
   */
  encryptSerialized(values: ArrayLike<number>): Uint8Array {
    const keys = this._secretKeys('encrypt to bytes');
    const length = this.#checkValues(values, 'encrypt vector');
    using pt = encodeSlots(this.#he, values, { period: this.period });
    const env = wrap('ciphertext', this.params, encryptSymmetricSeeded(keys, pt));
    return vectorBytes(env, length, this.period, true);
  }

  #checkValues(values: ArrayLike<number>, op: string): number {
    if (values === null || typeof values !== 'object' || typeof values.length !== 'number') {
      invalid(op, '"values" expected an array of numbers');
    }
    if (values.length < 1 || values.length > this.capabilities.maxLength) {
      invalid(op, `"values" length ${values.length} must be in 1…${this.capabilities.maxLength} (maxLength)`);
    }
    return values.length;
  }

  /**
   * Bytes of the public context: parameters, capabilities and the seeded public, relinearization and
   * Galois keys. Never contains the secret key. Only the key owner can export (seeds need it).
   *
   * @example
   * const bytes = vctx.exportPublic(); // send to the server
   */
  exportPublic(): Uint8Array {
    const keys = this._secretKeys('export public context');
    const desc: ContextDescription = {
      parameters: parametersToLiteral(this.params),
      maxLength: this.capabilities.maxLength,
      multiply: this.capabilities.multiply,
      sum: this.capabilities.sum,
      matmul: this.capabilities.matmul,
      period: this.plan.period,
      relin: this.plan.relin,
      galoisSteps: this.plan.galoisSteps,
    };
    const description = wrap('parameters', this.params, new TextEncoder().encode(JSON.stringify(desc)));
    const material = wrapPublicMaterial(this.params, keys.exportPublic());
    const out = new Uint8Array(PREFIX_BYTES + description.length + material.length);
    writePrefix(out, CONTEXT_MAGIC);
    out.set(description, PREFIX_BYTES);
    out.set(material, PREFIX_BYTES + description.length);
    return out;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  #check(op: string): void {
    if (this.#disposed) throw new HeError('HE_DISPOSED', `cannot ${op}: the vector context was disposed`);
  }

  /** Frees the keys and the SEAL context. Vectors of this context become unusable. */
  [Symbol.dispose](): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#keys[Symbol.dispose]();
    this.#he[Symbol.dispose]();
  }
}

/**
 * The key plan a public context declares, checked against its capabilities: the period and the
 * relinearization flag must be what they imply, and the steps must include everything the
 * declared capabilities need and nothing a vector of this period could not use (InnerSum or BSGS
 * steps). Declared steps can exceed the boolean capabilities because `matrices` are not sent.
 */
function declaredPlan(params: Parameters, desc: ContextDescription): VectorKeyPlan {
  const what = 'cannot load public context';
  const implied = planVectorKeys(params, desc);
  const steps = [...new Set(desc.galoisSteps)].sort((a, b) => a - b);
  const usable = new Set([...innerSumSteps(implied.period), ...denseMatVecSteps(implied.period)]);
  if (implied.period !== desc.period || implied.relin !== desc.relin) {
    throw new HeError(
      'HE_MALFORMED',
      `${what}: its period or relinearization flag contradicts its capabilities`,
    );
  }
  if (!implied.galoisSteps.every((s) => steps.includes(s)) || !steps.every((s) => usable.has(s))) {
    throw new HeError('HE_MALFORMED', `${what}: its rotation steps contradict its capabilities`);
  }
  return Object.freeze({ period: implied.period, relin: implied.relin, galoisSteps: Object.freeze(steps) });
}

function parseDescription(payload: Uint8Array): ContextDescription {
  const bad = (why: string): never => {
    throw new HeError('HE_MALFORMED', `cannot load public context: ${why}`);
  };
  let d: unknown;
  try {
    d = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    bad('its description is not UTF-8 JSON');
  }
  if (d === null || typeof d !== 'object' || Array.isArray(d)) bad('its description is not an object');
  const o = d as Record<string, unknown>;
  for (const k of ['multiply', 'sum', 'matmul', 'relin'])
    if (typeof o[k] !== 'boolean') bad(`"${k}" is not a boolean`);
  for (const k of ['maxLength', 'period'])
    if (!Number.isSafeInteger(o[k]) || (o[k] as number) < 1) bad(`"${k}" is not a positive integer`);
  if (
    !Array.isArray(o.galoisSteps) ||
    o.galoisSteps.length > 4096 ||
    !o.galoisSteps.every((s) => Number.isSafeInteger(s))
  ) {
    bad('"galoisSteps" is not a list of integers');
  }
  if (o.parameters === null || typeof o.parameters !== 'object') bad('"parameters" is not an object');
  return o as unknown as ContextDescription;
}

/** What `add`, `sub` and `mul` accept besides another encrypted vector. */
export type VectorOperand = number | ArrayLike<number> | EncryptedVector;

/**
 * An encrypted vector of real numbers. Operations return new vectors (dispose them, or use
 * `using`); the receiver is never modified. Each multiplication (by anything but an integer) and
 * each `matmul` consumes one level; `polyval` consumes `polynomialDepth(degree)`; `sum` consumes
 * none (one if the vector must be masked first).
 *
 * Chaining: `x.mul(w).add(1)` would leave the intermediate `x.mul(w)` undisposed, and WebAssembly
 * memory is never reclaimed by the garbage collector. Bind each step with `using`, or chain inside
 * {@link VectorContext.tidy}, which disposes every intermediate and keeps only what it returns.
 *
 * @example
 * using x = vctx.encrypt([1, 2, 3]);
 * using y = vctx.tidy(() => x.mul([0.5, 0.5, 0.5]).add(1));
 * y.decrypt(); // ≈ [1.5, 2, 2.5]
 */
export class EncryptedVector {
  readonly context: VectorContext;
  /** Number of meaningful slots. */
  readonly length: number;
  /** True when the padding slots of each period hold zeros (false after sum/dot). */
  readonly cleanPadding: boolean;
  readonly #ct: Ciphertext;

  private constructor(context: VectorContext, ct: Ciphertext, clean: boolean) {
    this.context = context;
    this.#ct = ct;
    this.length = ct.layout.length;
    this.cleanPadding = clean;
    context._track(this);
  }

  /** @internal takes ownership of `ct`. */
  static _wrap(context: VectorContext, ct: Ciphertext, clean: boolean): EncryptedVector {
    return new EncryptedVector(context, ct, clean);
  }

  /**
   * Loads a vector serialized by {@link EncryptedVector.serialize} (on this or the peer's context)
   * with hardened loading: size limit, no compression, parameter set, level, size 2, NTT form,
   * scale and non-transparency are checked before and after SEAL parses it.
   *
   * Bytes: `"BDXV" | version u8 | flags u8 (bit 0: clean padding) | 2 reserved | length u32 | period u32 | envelope`.
   *
   * @example
   * using v = EncryptedVector.deserialize(serverCtx, bytesFromClient);
   */
  static deserialize(context: VectorContext, bytes: Uint8Array): EncryptedVector {
    const what = 'encrypted vector';
    const v = readPrefix(bytes, VECTOR_MAGIC, VECTOR_PREFIX_BYTES, what);
    const flags = v.getUint8(5);
    if ((flags & ~1) !== 0 || v.getUint16(6, true) !== 0) {
      throw new HeError('HE_MALFORMED', `cannot load ${what}: unknown flags or reserved bits set`);
    }
    const length = v.getUint32(8, true);
    const period = v.getUint32(12, true);
    if (period !== context.period || length < 1 || length > period) {
      throw new HeError(
        'HE_MALFORMED',
        `cannot load ${what}: length ${length} / period ${period} do not fit this context (period ${context.period})`,
      );
    }
    const he = context._he;
    const rest = bytes.subarray(VECTOR_PREFIX_BYTES);
    // A vector is either a client's input ('ciphertext') or a server's output ('result').
    const { kind } = readEnvelopeHeader(rest.subarray(0, ENVELOPE_HEADER_BYTES), {
      expectedKind: ['ciphertext', 'result'],
      expectedFingerprint: he.params,
    });
    const ct = loadCiphertextEnvelope(he, rest, {
      layout: { kind: 'slots', length, period },
      kind: kind as 'ciphertext' | 'result',
    });
    // Every vector keeps a scale ≈ Δ (see the top of this file); anything else was not made here.
    const scale = ct.scale;
    if (!(Math.abs(scale / he.defaultScale - 1) <= MAX_SCALE_DRIFT)) {
      ct[Symbol.dispose]();
      throw new HeError(
        'HE_BAD_SCALE',
        `cannot load ${what}: scale 2^${Math.log2(scale).toFixed(2)} is not ≈ Δ`,
      );
    }
    return new EncryptedVector(context, ct, (flags & 1) === 1);
  }

  /** Rescales left; each multiplication uses one. */
  get level(): number {
    return this.#ct.level;
  }
  /** Current CKKS scale (≈ Δ). */
  get scale(): number {
    return this.#ct.scale;
  }
  get disposed(): boolean {
    return this.#ct.disposed;
  }
  /** @internal */
  get _ct(): Ciphertext {
    return this.#ct;
  }

  #own(other: EncryptedVector, op: string): void {
    if (!(other instanceof EncryptedVector)) invalid(op, '"other" expected an EncryptedVector');
    if (other.context !== this.context) {
      throw new HeError(
        'HE_PRESET_MISMATCH',
        `cannot ${op}: the vectors belong to different vector contexts (keys differ)`,
      );
    }
    if (other.length !== this.length) {
      throw new HeError(
        'HE_LAYOUT_MISMATCH',
        `cannot ${op}: lengths ${this.length} and ${other.length} differ`,
      );
    }
  }

  #plainValues(values: ArrayLike<number>, op: string): Float64Array {
    if (values.length !== this.length) {
      throw new HeError(
        'HE_LAYOUT_MISMATCH',
        `cannot ${op}: plain array length ${values.length} differs from the vector length ${this.length}`,
      );
    }
    const out = Float64Array.from(values);
    for (let i = 0; i < out.length; i++)
      if (!Number.isFinite(out[i])) invalid(op, `value ${i} is not finite`);
    return out;
  }

  /** Encodes `values` in the active slots of each period (padding stays zero). */
  #encode(values: ArrayLike<number>, level: number, scale: number) {
    return encodeSlots(this.context._he, values, { level, scale, period: this.context.period });
  }

  /** An encryption of zeros where SEAL would produce a transparent (all-zero) ciphertext. */
  #zero(level: number, scale: number): EncryptedVector {
    const vctx = this.context;
    using pt = this.#encode(new Float64Array(this.length), level, scale);
    // The key owner encrypts symmetrically, a server with the public key; either way the result is
    // a fresh, non-transparent encryption of 0 that does not reveal it is 0.
    const keys = vctx.hasSecretKey ? vctx._secretKeys('encrypt zero') : undefined;
    const ct = keys ? encryptSymmetric(keys, pt) : encryptPublic(vctx._ev.keys!, pt);
    return new EncryptedVector(vctx, ct, true);
  }

  /** Runs a SEAL operation whose exact result may be zero (x − x, x·0), which SEAL refuses to return. */
  #orZero(level: number, scale: number, f: () => EncryptedVector): EncryptedVector {
    try {
      return f();
    } catch (e) {
      if (isHeError(e, 'HE_SEAL_FAILURE') && /transparent/.test(e.message)) return this.#zero(level, scale);
      throw e;
    }
  }

  /** Brings two ciphertexts to one level and (drift-aligned) one scale; returns new handles. */
  #aligned(a: Ciphertext, b: Ciphertext, op: string): [Ciphertext, Ciphertext] {
    const ev = this.context._ev;
    const r0 = Math.abs(a.scale / b.scale - 1);
    if (!(r0 <= MAX_SCALE_DRIFT)) {
      throw new HeError(
        'HE_SCALE_MISMATCH',
        `cannot ${op}: scales 2^${Math.log2(a.scale).toFixed(4)} and 2^${Math.log2(b.scale).toFixed(4)} differ by more than drift`,
      );
    }
    let x: Ciphertext;
    let y: Ciphertext;
    if (a.level !== b.level && a.scale !== b.scale) {
      // The higher operand has to come down anyway: its last step down is a product with the
      // constant 1 encoded at scale s_low·q/s_high, so the rescale lands exactly on the lower
      // operand's scale. Same final level, no drift error (a constant encodes exactly).
      const [hi, lo] = a.level > b.level ? [a, b] : [b, a];
      const down = this.#exactScaleDown(hi, lo.level, lo.scale);
      const same = ev.modSwitchTo(lo, lo.level);
      [x, y] = hi === a ? [down, same] : [same, down];
    } else {
      [x, y] = ev.matchLevels(a, b);
    }
    // Same-level operands with different histories (or float rounding of the above): re-label the
    // second with the first's scale, which multiplies its values by 1 + r, r ≤ MAX_SCALE_DRIFT.
    if (x.scale !== y.scale) y._raw.setScale(x.scale);
    return [x, y];
  }

  /** `ct` brought down to `level` with its scale turned into exactly `scale` (see #aligned). */
  #exactScaleDown(ct: Ciphertext, level: number, scale: number): Ciphertext {
    const ev = this.context._ev;
    const he = this.context._he;
    using above = ev.modSwitchTo(ct, level + 1);
    const q = Number(he.level(level + 1).primes.at(-1));
    // All N/2 slots, so the plaintext is the constant polynomial round(S): padding is kept as is.
    using one = encodeSlots(he, new Float64Array(he.params.slots).fill(1), {
      level: level + 1,
      scale: (scale * q) / ct.scale,
      period: he.params.slots,
    });
    using prod = ev.multiplyPlain(above, one);
    return ev.rescale(prod);
  }

  #addSub(other: VectorOperand, sign: 1 | -1): EncryptedVector {
    const op = sign === 1 ? 'add' : 'subtract';
    const ev = this.context._ev;
    const ct = this.#ct;
    if (other instanceof EncryptedVector) {
      this.#own(other, op);
      const [x, y] = this.#aligned(ct, other.#ct, op);
      using _x = x;
      using _y = y;
      const clean = this.cleanPadding && other.cleanPadding;
      return this.#orZero(
        x.level,
        x.scale,
        () => new EncryptedVector(this.context, sign === 1 ? ev.add(x, y) : ev.sub(x, y), clean),
      );
    }
    const values =
      typeof other === 'number'
        ? new Float64Array(this.length).fill(scalar(other, op))
        : this.#plainValues(other, op);
    // Encoded at the ciphertext's own level and scale: no drift, no level used.
    using pt = this.#encode(values, ct.level, ct.scale);
    return this.#orZero(
      ct.level,
      ct.scale,
      () =>
        new EncryptedVector(
          this.context,
          sign === 1 ? ev.addPlain(ct, pt) : ev.subPlain(ct, pt),
          this.cleanPadding,
        ),
    );
  }

  /**
   * Element-wise sum with a scalar (added to every element), a plain array of the same length or
   * another encrypted vector (levels matched, scales drift-aligned). No level is consumed.
   *
   * @example
   * using z = vctx.tidy(() => x.add(y).add(1).add([0.1, 0.2, 0.3]));
   */
  add(other: VectorOperand): EncryptedVector {
    return this.#addSub(other, 1);
  }

  /**
   * Element-wise difference; see {@link EncryptedVector.add}. `x.sub(x)` is a fresh encryption of
   * zeros (SEAL would refuse the transparent result).
   *
   * @example
   * using d = x.sub([1, 1, 1]);
   */
  sub(other: VectorOperand): EncryptedVector {
    return this.#addSub(other, -1);
  }

  /**
   * Element-wise product. Scalars and plain arrays are encoded at the scale of the prime the
   * rescale removes, so the result keeps this vector's scale exactly; one level is consumed, except
   * for integer scalars |v| ≤ 2^20 (exact, no level). Encrypted × encrypted needs the `multiply`
   * capability (relinearization keys) and consumes one level.
   *
   * @example
   * using w = vctx.tidy(() => x.mul(0.5).mul([1, 2, 3]).mul(y));
   */
  mul(other: VectorOperand): EncryptedVector {
    const op = 'multiply';
    const ev = this.context._ev;
    const ct = this.#ct;
    if (other instanceof EncryptedVector) {
      this.#own(other, op);
      if (!this.context.capabilities.multiply) {
        throw new HeError(
          'HE_MISSING_RELIN_KEYS',
          'cannot multiply two encrypted vectors: the vector context lacks the "multiply" capability',
        );
      }
      const clean = this.cleanPadding || other.cleanPadding;
      const [x, y] = ev.matchLevels(ct, other.#ct);
      using _x = x;
      using _y = y;
      if (x.level === 0) {
        throw new HeError(
          'HE_DEPTH_EXHAUSTED',
          `cannot ${op}: the vectors are at level 0 (choose a deeper preset)`,
        );
      }
      return this.#orZero(x.level - 1, this.context._he.defaultScale, () => {
        // x·x is a square: one fewer polynomial product than a general multiply.
        using prod = other === this ? ev.square(x) : ev.multiply(x, y);
        using relin = ev.relinearize(prod);
        return new EncryptedVector(this.context, ev.rescale(relin), clean);
      });
    }
    if (typeof other === 'number') {
      const v = scalar(other, op);
      if (Number.isInteger(v) && Math.abs(v) <= EXACT_INTEGER_LIMIT) {
        // A constant over all slots at scale 1 is the constant polynomial v: exact, and the result
        // scale is Δ·1. Padding (zero or not) is multiplied like everything else. v = 0 gives a
        // fresh encryption of zeros (SEAL refuses the transparent product).
        const he = this.context._he;
        return this.#orZero(ct.level, ct.scale, () => {
          using pt = encodeSlots(he, new Float64Array(he.params.slots).fill(v), {
            level: ct.level,
            scale: 1,
            period: he.params.slots,
          });
          return new EncryptedVector(this.context, ev.multiplyPlain(ct, pt), this.cleanPadding);
        });
      }
      return this.#mulPlain(new Float64Array(this.length).fill(v), op);
    }
    return this.#mulPlain(this.#plainValues(other, op), op);
  }

  /** × plain values in the active slots (zero padding): the product is clean, scale kept exactly. */
  #mulPlain(values: Float64Array, op: string): EncryptedVector {
    const ev = this.context._ev;
    const ct = this.#ct;
    if (ct.level === 0) {
      throw new HeError(
        'HE_DEPTH_EXHAUSTED',
        `cannot ${op}: the vector is at level 0 (choose a deeper preset)`,
      );
    }
    // An all-zero plaintext would make SEAL's product transparent (refused): the answer is zeros.
    if (values.every((v) => v === 0)) return this.#zero(ct.level - 1, ct.scale);
    const q = Number(this.context._he.level(ct.level).primes.at(-1));
    using pt = this.#encode(values, ct.level, q);
    using prod = ev.multiplyPlain(ct, pt);
    return new EncryptedVector(this.context, ev.rescale(prod), true);
  }

  /**
   * Negation (no level consumed).
   *
   * @example
   * using m = x.neg();
   */
  neg(): EncryptedVector {
    return new EncryptedVector(this.context, this.context._ev.negate(this.#ct), this.cleanPadding);
  }

  /**
   * Sum of the elements, as a length-1 vector. Needs the `sum` capability (log2 p rotations). A
   * vector whose padding is not zero (the result of an earlier sum/dot) is masked first (one level).
   *
   * @example
   * using s = x.sum(); // s.decrypt() ≈ [x0 + x1 + …]
   */
  sum(): EncryptedVector {
    const vctx = this.context;
    // Checked against the keys, not the flag: the steps of "matmul" include the InnerSum ones.
    const missing = innerSumSteps(vctx.period).filter((s) => !vctx.plan.galoisSteps.includes(s));
    if (missing.length > 0) {
      throw new HeError(
        'HE_MISSING_GALOIS_KEY',
        `cannot sum: no Galois keys for steps ${missing.join(', ')} (declare the "sum" capability)`,
      );
    }
    const clean = this.cleanPadding
      ? undefined
      : this.#mulPlain(new Float64Array(this.length).fill(1), 'sum');
    try {
      const src = clean === undefined ? this.#ct : clean.#ct;
      const total = vctx._ev.innerSum(src, vctx.period);
      // Every slot of the period holds the total: keep length 1, mark the padding unclean.
      using retagged = total;
      return new EncryptedVector(
        vctx,
        retagged.withLayout({ kind: 'slots', length: 1, period: vctx.period }),
        false,
      );
    } finally {
      clean?.[Symbol.dispose]();
    }
  }

  /**
   * Inner product with a plain array or another encrypted vector, as a length-1 vector: `mul` then
   * `sum` (one level; needs `sum`, and `multiply` for encrypted operands).
   *
   * @example
   * using score = features.dot(weights);
   */
  dot(other: ArrayLike<number> | EncryptedVector): EncryptedVector {
    if (typeof other === 'number') invalid('dot', '"other" expected an array or an EncryptedVector');
    using prod = this.mul(other);
    return prod.sum();
  }

  /**
   * y = M·x for a plain `rows × cols` matrix with `cols` = this length and `rows` ≤ p, by the
   * diagonal method with baby-step/giant-step rotations. One level. Needs the `matmul` capability,
   * or this matrix (or one with the same non-zero diagonals) among `matrices`.
   *
   * @example
   * using y = x.matmul({ rows: 2, cols: 3, data: [1, 0, 0, 0, 1, 1] }); // [x0, x1 + x2]
   */
  matmul(matrix: PlainMatrix): EncryptedVector {
    const vctx = this.context;
    if (matrix === null || typeof matrix !== 'object')
      invalid('multiply matrix', '"matrix" expected an object');
    if (matrix.cols !== this.length) {
      throw new HeError(
        'HE_LAYOUT_MISMATCH',
        `cannot multiply matrix: it has ${matrix.cols} columns, the vector has length ${this.length}`,
      );
    }
    const plan = planMatVec(matrix, { period: vctx.period });
    const missing = plan.galoisSteps.filter((s) => !vctx.plan.galoisSteps.includes(s));
    if (missing.length > 0) {
      throw new HeError(
        'HE_MISSING_GALOIS_KEY',
        `cannot multiply matrix: no Galois keys for steps ${missing.join(', ')} (declare "matmul" or this matrix)`,
      );
    }
    // Padding columns of M are zero, so unclean padding in x is harmless; padding rows of M are
    // zero too, so the result is clean.
    return new EncryptedVector(vctx, matVec(vctx._ev, this.#ct, matrix, plan), true);
  }

  /**
   * p(x) = Σ c_k x^k element-wise (coefficients lowest degree first, degree ≥ 1). Consumes
   * `polynomialDepth(degree)` levels; degree ≥ 2 needs the `multiply` capability.
   *
   * @example
   * using s = x.polyval([0.5, 0.197, 0, -0.004]); // a sigmoid approximation
   */
  polyval(coefficients: readonly number[]): EncryptedVector {
    const vctx = this.context;
    if (!Array.isArray(coefficients)) invalid('evaluate polynomial', '"coefficients" expected an array');
    let degree = coefficients.length - 1;
    while (degree > 0 && coefficients[degree] === 0) degree--;
    if (degree >= 2 && !vctx.capabilities.multiply) {
      throw new HeError(
        'HE_MISSING_RELIN_KEYS',
        `cannot evaluate a degree-${degree} polynomial: the vector context lacks the "multiply" capability`,
      );
    }
    if (polynomialDepth(degree) > this.level) {
      throw new HeError(
        'HE_DEPTH_EXHAUSTED',
        `cannot evaluate a degree-${degree} polynomial: needs ${polynomialDepth(degree)} levels, the vector has ${this.level}`,
      );
    }
    // Coefficients sit in active slots only, so the result's padding is zero whatever x's was.
    return new EncryptedVector(vctx, evaluatePolynomial(vctx._ev, this.#ct, coefficients), true);
  }

  /**
   * Decrypts to `length` numbers. Only the context holding the secret key can; a public (server)
   * context throws `HE_MISSING_SECRET_KEY`.
   *
   * @example
   * const values = x.decrypt(); // number[]
   */
  decrypt(): number[] {
    const keys = this.context._secretKeys('decrypt');
    using pt = decrypt(keys, this.#ct);
    return Array.from(decodeSlots(pt, this.length));
  }

  /**
   * Bytes for {@link EncryptedVector.deserialize}: a 16-byte vector header and an envelope of kind
   * `ciphertext` (written by the key owner) or `result` (written by a public context).
   *
   * @example
   * const bytes = x.serialize();
   */
  serialize(): Uint8Array {
    const he = this.context._he;
    const seal = he._seal;
    const raw = new Uint8Array(this.#ct._raw.saveToArray(seal.ComprModeType.none) as Uint8Array);
    const env = wrap(this.context.hasSecretKey ? 'ciphertext' : 'result', he.params, raw);
    return vectorBytes(env, this.length, this.context.period, this.cleanPadding);
  }

  /** Frees the ciphertext. Idempotent; any later use throws `HE_DISPOSED`. */
  [Symbol.dispose](): void {
    this.#ct[Symbol.dispose]();
  }
}

/** The vector header in front of a ciphertext envelope (see {@link EncryptedVector.deserialize}). */
function vectorBytes(envelope: Uint8Array, length: number, period: number, clean: boolean): Uint8Array {
  const out = new Uint8Array(VECTOR_PREFIX_BYTES + envelope.length);
  const v = writePrefix(out, VECTOR_MAGIC);
  v.setUint8(5, clean ? 1 : 0);
  v.setUint32(8, length, true);
  v.setUint32(12, period, true);
  out.set(envelope, VECTOR_PREFIX_BYTES);
  return out;
}

function scalar(v: number, op: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v))
    invalid(op, `scalar expected a finite number, got ${String(v)}`);
  return v;
}

import type { _Seal, _SealGaloisKeys, _SealPublicKey, _SealRelinKeys, _SealSecretKey } from './_seal.ts';
import type { HeContext } from './context.ts';
import { HeError } from './errors.ts';

/** What evaluation keys a computation needs. Galois keys are made for exactly these steps. */
export interface KeyRequest {
  /** Relinearization keys (needed after ciphertext × ciphertext). Default false. */
  readonly relin?: boolean;
  /** Rotation steps (slots; positive = left). Default none: no Galois keys at all. */
  readonly galoisSteps?: readonly number[];
}

/** Serialized public evaluation material, as uploaded to a server. Never contains the secret key. */
export interface PublicMaterial {
  readonly publicKey: Uint8Array;
  readonly relinKeys?: Uint8Array;
  readonly galoisKeys?: Uint8Array;
  /** The rotation steps the Galois keys cover, sorted. */
  readonly galoisSteps: readonly number[];
}

/** Byte sizes of each part of {@link PublicMaterial}. */
export function materialSizes(m: PublicMaterial): {
  publicKey: number;
  relinKeys: number;
  galoisKeys: number;
  total: number;
} {
  const publicKey = m.publicKey.length;
  const relinKeys = m.relinKeys?.length ?? 0;
  const galoisKeys = m.galoisKeys?.length ?? 0;
  return { publicKey, relinKeys, galoisKeys, total: publicKey + relinKeys + galoisKeys };
}

/** Checks and normalizes rotation steps: non-zero integers with |step| < slots, deduplicated, sorted. */
export function normalizeSteps(ctx: HeContext, steps: readonly number[]): number[] {
  const slots = ctx.params.slots;
  const out = new Set<number>();
  for (const s of steps) {
    if (!Number.isInteger(s) || s === 0 || Math.abs(s) >= slots) {
      throw new HeError(
        'HE_INVALID_ARGUMENT',
        `cannot make Galois keys: step ${s} must be a non-zero integer with |step| < ${slots}`,
      );
    }
    out.add(s);
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * Evaluation keys a server holds: public key (for re-randomization), optional relinearization and
 * Galois keys. No secret key. Disposable.
 */
export class EvaluationKeys {
  readonly context: HeContext;
  readonly galoisSteps: readonly number[];
  #pk: _SealPublicKey | undefined;
  #rk: _SealRelinKeys | undefined;
  #gk: _SealGaloisKeys | undefined;
  #disposed = false;

  /** @internal takes ownership of the SEAL objects. */
  constructor(
    context: HeContext,
    pk: _SealPublicKey,
    rk: _SealRelinKeys | undefined,
    gk: _SealGaloisKeys | undefined,
    steps: readonly number[],
  ) {
    this.context = context;
    this.#pk = pk;
    this.#rk = rk;
    this.#gk = gk;
    this.galoisSteps = Object.freeze([...steps]);
  }
  #check(what: string): void {
    if (this.#disposed) throw new HeError('HE_DISPOSED', `cannot ${what}: the keys were disposed`);
  }
  /** @internal */
  get _publicKey(): _SealPublicKey {
    this.#check('use the public key');
    return this.#pk!;
  }
  /** @internal throws `HE_MISSING_RELIN_KEYS` when absent. */
  get _relinKeys(): _SealRelinKeys {
    this.#check('relinearize');
    if (this.#rk === undefined)
      throw new HeError('HE_MISSING_RELIN_KEYS', 'cannot relinearize: no relinearization keys were provided');
    return this.#rk;
  }
  get hasRelinKeys(): boolean {
    return this.#rk !== undefined;
  }
  /** @internal throws `HE_MISSING_GALOIS_KEY` naming the step when absent. */
  _galoisKeysFor(step: number): _SealGaloisKeys {
    this.#check('rotate');
    if (this.#gk === undefined || !this.galoisSteps.includes(step)) {
      throw new HeError(
        'HE_MISSING_GALOIS_KEY',
        `cannot rotate by ${step}: no Galois key for that step (have: ${this.galoisSteps.join(', ') || 'none'})`,
      );
    }
    return this.#gk;
  }
  get disposed(): boolean {
    return this.#disposed;
  }
  [Symbol.dispose](): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#pk?.delete();
    this.#rk?.delete();
    this.#gk?.delete();
  }
}

/**
 * A client's full key set: the secret key plus the evaluation keys made from it. Lives on the
 * client only; {@link KeySet.exportPublic} is what leaves the device.
 *
 * @example
 * using ctx = await HeContext.create('ckks-8192-d2');
 * using keys = generateKeys(ctx, { relin: true, galoisSteps: [1, 2, 4] });
 * const upload = keys.exportPublic(); // seeded, uncompressed
 */
export class KeySet extends EvaluationKeys {
  #sk: _SealSecretKey | undefined;
  readonly #request: KeyRequest;
  /** @internal */
  constructor(
    context: HeContext,
    sk: _SealSecretKey,
    pk: _SealPublicKey,
    rk: _SealRelinKeys | undefined,
    gk: _SealGaloisKeys | undefined,
    steps: readonly number[],
    request: KeyRequest,
  ) {
    super(context, pk, rk, gk, steps);
    this.#sk = sk;
    this.#request = request;
  }
  /** @internal */
  get _secretKey(): _SealSecretKey {
    if (this.#sk === undefined)
      throw new HeError('HE_DISPOSED', 'cannot use the secret key: the keys were disposed');
    return this.#sk;
  }

  /**
   * Serializes the public evaluation material in SEAL's seeded form (about half the size; the
   * server expands the seed) and without compression (servers refuse compressed bytes).
   */
  exportPublic(): PublicMaterial {
    const ctx = this.context;
    const seal = ctx._seal;
    const none = seal.ComprModeType.none;
    using kg = disposableKeyGenerator(seal, ctx, this._secretKey);
    const save = (s: { saveToArray(m: unknown): unknown; delete(): void }) => {
      try {
        return new Uint8Array(s.saveToArray(none) as Uint8Array);
      } finally {
        s.delete();
      }
    };
    const publicKey = save(kg.g.createPublicKeySerializable());
    const relinKeys = this.#request.relin ? save(kg.g.createRelinKeysSerializable()) : undefined;
    const galoisKeys =
      this.galoisSteps.length > 0
        ? save(kg.g.createGaloisKeysSerializableWithSteps(Int32Array.from(this.galoisSteps)))
        : undefined;
    return {
      publicKey,
      ...(relinKeys ? { relinKeys } : {}),
      ...(galoisKeys ? { galoisKeys } : {}),
      galoisSteps: this.galoisSteps,
    };
  }

  /** The secret key's SEAL bytes, for encrypted local storage only. Never send these anywhere. */
  exportSecretKey(): Uint8Array {
    return new Uint8Array(this._secretKey.saveToArray(this.context._seal.ComprModeType.none) as Uint8Array);
  }

  override [Symbol.dispose](): void {
    this.#sk?.delete();
    this.#sk = undefined;
    super[Symbol.dispose]();
  }
}

function disposableKeyGenerator(seal: _Seal, ctx: HeContext, sk?: _SealSecretKey) {
  const g = sk ? new seal.KeyGenerator(ctx._ctx, sk) : new seal.KeyGenerator(ctx._ctx);
  return { g, [Symbol.dispose]: () => g.delete() };
}

/**
 * Generates a key set. Galois keys cover exactly `request.galoisSteps` (none by default, never "all
 * powers of two"). Pass `secretKey` bytes from {@link KeySet.exportSecretKey} to rebuild a stored set.
 */
export function generateKeys(ctx: HeContext, request: KeyRequest = {}, secretKey?: Uint8Array): KeySet {
  const seal = ctx._seal;
  const steps = normalizeSteps(ctx, request.galoisSteps ?? []);
  if (steps.length > 0 && ctx.params.coeffModulusBits.length < 3) {
    throw new HeError(
      'HE_INVALID_ARGUMENT',
      'cannot make Galois keys: this preset has no key-switching level',
    );
  }
  let sk: _SealSecretKey | undefined;
  if (secretKey !== undefined) {
    sk = new seal.SecretKey();
    const loaded = sk;
    ctx._call('load secret key', () => loaded.loadFromArray(ctx._ctx, secretKey));
  }
  using kg = disposableKeyGenerator(seal, ctx, sk);
  const secret = sk ?? kg.g.secretKey();
  const pk = kg.g.createPublicKey();
  const rk = request.relin ? kg.g.createRelinKeys() : undefined;
  const gk =
    steps.length > 0
      ? ctx._call('make Galois keys', () => kg.g.createGaloisKeysWithSteps(Int32Array.from(steps)))
      : undefined;
  return new KeySet(ctx, secret, pk, rk, gk, steps, { ...request, galoisSteps: steps });
}

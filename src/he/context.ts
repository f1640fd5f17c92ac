import { _loadSeal, type _Seal, type _SealContext, _sealMessage } from './_seal.ts';
import { HeError } from './errors.ts';
import { createParameters, type Parameters, type ParametersLiteral } from './params.ts';
import { getPreset, presetByFingerprint } from './presets.ts';

type SealParmsId = ReturnType<_SealContext['firstParmsId']>;

/** Per-level facts a caller may need (level = rescales left; 0 is the last). */
export interface LevelInfo {
  readonly level: number;
  /** The RNS primes active at this level, first to last. */
  readonly primes: readonly bigint[];
  /** SEAL's parms_id of this level, four u64 words. */
  readonly parmsId: readonly bigint[];
}

/**
 * A SEAL context for one validated parameter set, with its encoders and evaluator. Holds
 * WebAssembly memory: dispose it (`using ctx = await HeContext.create(…)`).
 *
 * @example
 * using ctx = await HeContext.create('ckks-8192-d2');
 * ctx.params.maxLevel; // 2
 */
export class HeContext {
  readonly params: Parameters;
  /** Name of the preset this context was made from, if any. */
  readonly presetName: string | undefined;
  readonly #seal: _Seal;
  #ctx: _SealContext | undefined;
  #ckks: InstanceType<_Seal['CKKSEncoder']> | undefined;
  #evaluator: InstanceType<_Seal['Evaluator']> | undefined;
  readonly #levels: LevelInfo[];
  readonly #parmsIds: SealParmsId[];
  readonly #levelByKey = new Map<string, number>();

  private constructor(seal: _Seal, params: Parameters, presetName: string | undefined) {
    this.#seal = seal;
    this.params = params;
    this.presetName = presetName;
    const sealParms = new seal.EncryptionParameters(
      params.scheme === 'ckks' ? seal.SchemeType.ckks : seal.SchemeType.bfv,
    );
    try {
      sealParms.setPolyModulusDegree(params.polyModulusDegree);
      const coeff = seal.CoeffModulus.Create(
        params.polyModulusDegree,
        Int32Array.from(params.coeffModulusBits),
      );
      sealParms.setCoeffModulus(coeff);
      coeff.delete();
      if (params.scheme === 'bfv') {
        const t = seal.PlainModulus.Batching(params.polyModulusDegree, params.plainModulusBits!);
        sealParms.setPlainModulus(t);
        t.delete();
      }
      // SEAL re-checks the HomomorphicEncryption.org bound itself with tc128.
      this.#ctx = new seal.SEALContext(sealParms, true, seal.SecLevelType.tc128);
    } catch (e) {
      throw new HeError(
        'HE_INSECURE_PARAMETERS',
        `cannot create context: SEAL refused the parameters (${_sealMessage(seal, e)})`,
      );
    } finally {
      sealParms.delete();
    }
    if (!this.#ctx.parametersSet()) {
      const why = this.#ctx.toHuman();
      this.#ctx.delete();
      this.#ctx = undefined;
      throw new HeError(
        'HE_INSECURE_PARAMETERS',
        `cannot create context: SEAL refused the parameters at 128-bit security (${why})`,
      );
    }
    this.#evaluator = new seal.Evaluator(this.#ctx);
    if (params.scheme === 'ckks') this.#ckks = new seal.CKKSEncoder(this.#ctx);
    this.#levels = [];
    this.#parmsIds = [];
    // Walk the data levels from the first (highest) to the last.
    let cd = this.#ctx.firstContextData();
    for (;;) {
      const level = cd.chainIndex();
      const pid = cd.parmsId();
      const words = [...(pid.values() as BigUint64Array)];
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
      this.#levels[level] = Object.freeze({
        level,
        primes: Object.freeze(primes),
        parmsId: Object.freeze(words),
      });
      this.#parmsIds[level] = pid;
      this.#levelByKey.set(words.join(','), level);
      const next = cd.nextContextData();
      cd.delete();
      if (next === null || next === undefined || level === 0) {
        next?.delete?.();
        break;
      }
      cd = next;
    }
  }

  /**
   * Creates a context from a preset name, a literal or validated parameters.
   * Throws `HE_UNKNOWN_PRESET`, `HE_INVALID_ARGUMENT` or `HE_INSECURE_PARAMETERS`.
   */
  static async create(spec: string | ParametersLiteral | Parameters): Promise<HeContext> {
    const seal = await _loadSeal();
    if (typeof spec === 'string') return new HeContext(seal, getPreset(spec), spec);
    // Re-validate even what claims to be Parameters: an object literal with a "fingerprint" field
    // would otherwise pass unchecked (with any maxLevel, slots or fingerprint). Shipped presets keep
    // their identity.
    const checked = createParameters(spec);
    const preset = presetByFingerprint(checked.fingerprint);
    return new HeContext(seal, preset?.params ?? checked, undefined);
  }

  /** True once disposed. */
  get disposed(): boolean {
    return this.#ctx === undefined;
  }

  /** @internal raw SEAL module. */
  get _seal(): _Seal {
    this.#check('use context');
    return this.#seal;
  }
  /** @internal raw SEAL context. */
  get _ctx(): _SealContext {
    this.#check('use context');
    return this.#ctx!;
  }
  /** @internal raw evaluator. */
  get _evaluator(): InstanceType<_Seal['Evaluator']> {
    this.#check('use context');
    return this.#evaluator!;
  }
  /** @internal raw CKKS encoder. */
  get _ckks(): InstanceType<_Seal['CKKSEncoder']> {
    this.#check('encode');
    if (this.#ckks === undefined)
      throw new HeError('HE_INVALID_ARGUMENT', 'cannot encode: not a CKKS context');
    return this.#ckks;
  }
  /** @internal SEAL parms id handle of a level. */
  _parmsIdOf(level: number): SealParmsId {
    this.#check('use level');
    const p = this.#parmsIds[level];
    if (p === undefined)
      throw new HeError(
        'HE_INVALID_ARGUMENT',
        `cannot use level ${level}: valid levels are 0…${this.maxLevel}`,
      );
    return p;
  }

  /** Highest data level (that of fresh ciphertexts). */
  get maxLevel(): number {
    return this.params.maxLevel;
  }

  /** Facts about one level. */
  level(level: number): LevelInfo {
    const info = this.#levels[level];
    if (info === undefined)
      throw new HeError(
        'HE_INVALID_ARGUMENT',
        `cannot use level ${level}: valid levels are 0…${this.maxLevel}`,
      );
    return info;
  }

  /** Level of a SEAL parms id, or undefined if it is not a data level of this context. */
  levelOfParmsId(words: readonly bigint[]): number | undefined {
    return this.#levelByKey.get(words.join(','));
  }

  /** @internal level of a raw SEAL object's parms id. */
  _levelOf(obj: { parmsId(): SealParmsId }): number {
    const pid = obj.parmsId();
    const words = [...(pid.values() as BigUint64Array)];
    pid.delete();
    const level = this.levelOfParmsId(words);
    if (level === undefined)
      throw new HeError(
        'HE_WRONG_LEVEL',
        'cannot use object: its parms_id is not a data level of this context',
      );
    return level;
  }

  /** Default CKKS scale 2^scaleBits. */
  get defaultScale(): number {
    if (this.params.scaleBits === undefined) {
      throw new HeError(
        'HE_INVALID_ARGUMENT',
        'cannot use default scale: this preset has none (pass a scale)',
      );
    }
    return 2 ** this.params.scaleBits;
  }

  /** Runs a SEAL call, mapping its exceptions to `HE_SEAL_FAILURE` with the operation named. */
  _call<T>(operation: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof HeError) throw e;
      throw new HeError('HE_SEAL_FAILURE', `cannot ${operation}: ${_sealMessage(this.#seal, e)}`, {
        cause: e,
      });
    }
  }

  #check(what: string): void {
    if (this.#ctx === undefined) throw new HeError('HE_DISPOSED', `cannot ${what}: the context was disposed`);
  }

  [Symbol.dispose](): void {
    if (this.#ctx === undefined) return;
    this.#ckks?.delete();
    this.#evaluator?.delete();
    for (const p of this.#parmsIds) p?.delete();
    this.#ctx.delete();
    this.#ctx = undefined;
  }
}

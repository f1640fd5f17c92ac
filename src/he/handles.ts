import type { _SealCiphertext, _SealPlaintext } from './_seal.ts';
import type { HeContext } from './context.ts';
import { HeError } from './errors.ts';
import type { Layout } from './layout.ts';

/** Base for everything that owns WebAssembly memory: deterministic `Symbol.dispose`, use-after-dispose throws. */
abstract class Owned<T extends { delete(): void }> {
  #raw: T | undefined;
  readonly context: HeContext;
  protected constructor(context: HeContext, raw: T) {
    this.context = context;
    this.#raw = raw;
  }
  /** @internal the SEAL object; throws `HE_DISPOSED` after dispose. */
  get _raw(): T {
    if (this.#raw === undefined)
      throw new HeError('HE_DISPOSED', `cannot use ${this.constructor.name}: it was disposed`);
    return this.#raw;
  }
  get disposed(): boolean {
    return this.#raw === undefined;
  }
  [Symbol.dispose](): void {
    this.#raw?.delete();
    this.#raw = undefined;
  }
}

/**
 * A ciphertext with the metadata operations check before SEAL sees it: preset fingerprint (via its
 * context), level, scale, size (2 after relinearization) and layout.
 */
export class Ciphertext extends Owned<_SealCiphertext> {
  readonly layout: Layout;
  /** @internal wraps a raw SEAL ciphertext; takes ownership. */
  constructor(context: HeContext, raw: _SealCiphertext, layout: Layout) {
    super(context, raw);
    this.layout = layout;
  }
  /** Rescales left before the modulus is exhausted. */
  get level(): number {
    return this.context._levelOf(this._raw);
  }
  get scale(): number {
    return this._raw.scale();
  }
  /** Number of polynomials (2 normally, 3 after a multiply before relinearization). */
  get size(): number {
    return this._raw.size();
  }
  /** A deep copy with its own memory. */
  clone(layout: Layout = this.layout): Ciphertext {
    const seal = this.context._seal;
    const c = new seal.Ciphertext();
    c.assign(this._raw);
    return new Ciphertext(this.context, c, layout);
  }
  /** Same ciphertext bytes, new layout tag (for callers that know what a transform did). */
  withLayout(layout: Layout): Ciphertext {
    return this.clone(layout);
  }
}

/** An encoded plaintext (CKKS: NTT form at a given level and scale). */
export class Plaintext extends Owned<_SealPlaintext> {
  readonly layout: Layout;
  /** @internal */
  constructor(context: HeContext, raw: _SealPlaintext, layout: Layout) {
    super(context, raw);
    this.layout = layout;
  }
  get level(): number {
    return this.context._levelOf(this._raw);
  }
  get scale(): number {
    return this._raw.scale();
  }
}

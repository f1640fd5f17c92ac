// The one place that loads node-seal. Everything above `he` sees BlindDx types only.

import type { MainModule } from 'node-seal';
import initialize from 'node-seal';

/** The raw SEAL WebAssembly module. Internal to the he layer. */
export type _Seal = MainModule;
export type {
  Ciphertext as _SealCiphertext,
  GaloisKeys as _SealGaloisKeys,
  Plaintext as _SealPlaintext,
  PublicKey as _SealPublicKey,
  RelinKeys as _SealRelinKeys,
  SEALContext as _SealContext,
  SecretKey as _SealSecretKey,
} from 'node-seal';

let loading: Promise<_Seal> | undefined;
let options: { locateFile?: (path: string) => string } = {};

/**
 * Tells node-seal where its `.wasm` lives (bundlers rename it). Must be called before the first
 * context is created; Node needs nothing.
 */
export function configureSeal(opts: { locateFile?: (path: string) => string }): void {
  options = { ...opts };
}

/** Loads SEAL once per thread (each worker has its own instance). */
export function _loadSeal(): Promise<_Seal> {
  loading ??= initialize(options);
  return loading;
}

/** Turns whatever SEAL threw (often a `WebAssembly.Exception`) into a message string. */
export function _sealMessage(seal: _Seal, e: unknown): string {
  try {
    const m = (seal as unknown as { getExceptionMessage(e: unknown): unknown }).getExceptionMessage(e);
    if (Array.isArray(m)) return m.filter(Boolean).join(': ');
    if (typeof m === 'string') return m;
  } catch {
    // not a SEAL exception
  }
  return e instanceof Error ? e.message : String(e);
}

// The secret key at rest: sealed with a passphrase so a stolen disk or IndexedDB dump does not
// yield it. Web Crypto only (PBKDF2-SHA-256 → AES-256-GCM), so Node and the browser share it.

import { sha256Digest } from '../protocol/digest.ts';

/** Stable error codes of the key vault. */
export type KeyVaultErrorCode = 'VAULT_WRONG_PASSPHRASE' | 'VAULT_MALFORMED' | 'VAULT_WEAK_PASSPHRASE';

export class KeyVaultError extends Error {
  readonly code: KeyVaultErrorCode;
  constructor(code: KeyVaultErrorCode, message: string) {
    super(message);
    this.name = 'KeyVaultError';
    this.code = code;
  }
}

/** A sealed secret key as stored (JSON-safe). Carries no key material in the clear. */
export interface SealedSecret {
  readonly v: 1;
  readonly kdf: 'PBKDF2-SHA-256';
  readonly iterations: number;
  readonly salt: string;
  readonly iv: string;
  /** AES-256-GCM ciphertext of the secret key bytes (tag appended), base64. */
  readonly sealed: string;
  /** Public, authenticated (GCM additional data): e.g. preset name and creation time. */
  readonly label: string;
}

const ITERATIONS = 600_000; // OWASP 2023 guidance for PBKDF2-HMAC-SHA256

const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));
function unb64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
function b64Large(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

async function deriveKey(passphrase: string, salt: Uint8Array, iterations: number): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey('raw', new TextEncoder().encode(passphrase), 'PBKDF2', false, [
    'deriveKey',
  ]);
  return crypto.subtle.deriveKey(
    { name: 'PBKDF2', hash: 'SHA-256', salt: salt as BufferSource, iterations },
    base,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

/**
 * Seals secret-key bytes under a passphrase (at least 8 characters).
 *
 * @example
 * const sealed = await sealSecret(keys.exportSecretKey(), 'correct horse battery', 'ckks-8192-coeff');
 */
export async function sealSecret(
  secret: Uint8Array,
  passphrase: string,
  label: string,
  iterations = ITERATIONS,
): Promise<SealedSecret> {
  if (typeof passphrase !== 'string' || passphrase.length < 8) {
    throw new KeyVaultError(
      'VAULT_WEAK_PASSPHRASE',
      'cannot seal key: the passphrase needs at least 8 characters',
    );
  }
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const key = await deriveKey(passphrase, salt, iterations);
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(label) },
      key,
      secret as BufferSource,
    ),
  );
  return {
    v: 1,
    kdf: 'PBKDF2-SHA-256',
    iterations,
    salt: b64(salt),
    iv: b64(iv),
    sealed: b64Large(sealed),
    label,
  };
}

/** Opens a sealed secret; a wrong passphrase (or any tampering) gives `VAULT_WRONG_PASSPHRASE`. */
export async function openSecret(s: SealedSecret, passphrase: string): Promise<Uint8Array> {
  if (
    s === null ||
    typeof s !== 'object' ||
    s.v !== 1 ||
    s.kdf !== 'PBKDF2-SHA-256' ||
    !Number.isInteger(s.iterations) ||
    s.iterations < 100_000
  ) {
    throw new KeyVaultError('VAULT_MALFORMED', 'cannot open key: not a BlindDx sealed key (v1)');
  }
  let salt: Uint8Array;
  let iv: Uint8Array;
  let sealed: Uint8Array;
  try {
    salt = unb64(s.salt);
    iv = unb64(s.iv);
    sealed = unb64(s.sealed);
  } catch {
    throw new KeyVaultError('VAULT_MALFORMED', 'cannot open key: fields are not base64');
  }
  const key = await deriveKey(passphrase, salt, s.iterations);
  try {
    return new Uint8Array(
      await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: iv as BufferSource, additionalData: new TextEncoder().encode(s.label) },
        key,
        sealed as BufferSource,
      ),
    );
  } catch {
    throw new KeyVaultError(
      'VAULT_WRONG_PASSPHRASE',
      'cannot open key: wrong passphrase or the stored key was altered',
    );
  }
}

/**
 * A public id of a key set: 16 hex digits of the SHA-256 of its sealed (encrypted) secret. The CLI
 * and the web app both use it, so one key set has one id everywhere.
 */
export async function keySetId(sealed: string): Promise<string> {
  return (await sha256Digest(new TextEncoder().encode(sealed))).slice(7, 23);
}

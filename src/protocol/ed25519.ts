// Ed25519 through WebCrypto (`crypto.subtle`), available in Node 24 and current Chromium.
import { _ab, fromBase64, toBase64, toHex } from './bytes.ts';
import { BlindDxError } from './errors.ts';

/** A public Ed25519 key as stored and exchanged: JWK fields plus a short key id. */
export interface PublicKeyJwk {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  /** base64url of the 32-byte public key. */
  readonly x: string;
  /** First 16 hex digits of SHA-256 of the raw public key. */
  readonly kid: string;
}

/** A private key file: the public fields plus `d`. Never sent over the wire. */
export interface PrivateKeyJwk extends PublicKeyJwk {
  readonly d: string;
}

const _alg = { name: 'Ed25519' } as const;

function _b64url(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The key id of a raw 32-byte public key. */
export async function keyIdOf(rawPublicKey: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', _ab(rawPublicKey)));
  return toHex(d).slice(0, 16);
}

/**
 * A fresh Ed25519 key pair as JWKs.
 *
 * @example
 * const priv = await generateSigningKey(); const pub = publicPart(priv);
 */
export async function generateSigningKey(): Promise<PrivateKeyJwk> {
  const pair = (await crypto.subtle.generateKey(_alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const jwk = await crypto.subtle.exportKey('jwk', pair.privateKey);
  const x = jwk.x as string;
  return Object.freeze({
    kty: 'OKP',
    crv: 'Ed25519',
    x,
    d: jwk.d as string,
    kid: await keyIdOf(fromBase64(x)),
  });
}

/** The public half of a private key JWK. */
export function publicPart(key: PrivateKeyJwk | PublicKeyJwk): PublicKeyJwk {
  return Object.freeze({ kty: 'OKP', crv: 'Ed25519', x: key.x, kid: key.kid });
}

/** A public key JWK from its raw 32 bytes. */
export async function publicKeyFromRaw(raw: Uint8Array): Promise<PublicKeyJwk> {
  if (raw.length !== 32) throw new TypeError(`publicKeyFromRaw: "raw" expected 32 bytes, got ${raw.length}`);
  return Object.freeze({ kty: 'OKP', crv: 'Ed25519', x: _b64url(raw), kid: await keyIdOf(raw) });
}

/** Checks the shape of an untrusted JWK and that its `kid` matches `x`; returns it frozen. */
export async function parsePublicKey(value: unknown, what = 'key'): Promise<PublicKeyJwk> {
  const v = value as Partial<PrivateKeyJwk> | null;
  if (
    v === null ||
    typeof v !== 'object' ||
    v.kty !== 'OKP' ||
    v.crv !== 'Ed25519' ||
    typeof v.x !== 'string'
  ) {
    throw new BlindDxError('BAD_REQUEST', `parsePublicKey: "${what}" is not an Ed25519 JWK`);
  }
  const raw = fromBase64(v.x);
  if (raw.length !== 32) throw new BlindDxError('BAD_REQUEST', `parsePublicKey: "${what}.x" is not 32 bytes`);
  const kid = await keyIdOf(raw);
  if (v.kid !== undefined && v.kid !== kid) {
    throw new BlindDxError('BAD_REQUEST', `parsePublicKey: "${what}.kid" does not match its key`);
  }
  return Object.freeze({ kty: 'OKP', crv: 'Ed25519', x: v.x, kid });
}

/** Like {@link parsePublicKey} for a private key file (needs `d`). */
export async function parsePrivateKey(value: unknown, what = 'key'): Promise<PrivateKeyJwk> {
  const pub = await parsePublicKey(value, what);
  const d = (value as { d?: unknown }).d;
  if (typeof d !== 'string' || fromBase64(d).length !== 32) {
    throw new BlindDxError('BAD_REQUEST', `parsePrivateKey: "${what}" has no 32-byte private part "d"`);
  }
  return Object.freeze({ ...pub, d });
}

/** Signs `message` with a private JWK; returns the 64-byte signature. */
export async function signBytes(key: PrivateKeyJwk, message: Uint8Array): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey(
    'jwk',
    { kty: 'OKP', crv: 'Ed25519', x: key.x, d: key.d },
    _alg,
    false,
    ['sign'],
  );
  return new Uint8Array(await crypto.subtle.sign(_alg, k, _ab(message)));
}

/** True if `signature` is `key`'s valid Ed25519 signature over `message`. Never throws on bad input. */
export async function verifyBytes(
  key: PublicKeyJwk,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  try {
    const k = await crypto.subtle.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', x: key.x }, _alg, false, [
      'verify',
    ]);
    return await crypto.subtle.verify(_alg, k, _ab(signature), _ab(message));
  } catch {
    return false;
  }
}

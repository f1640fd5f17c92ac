import { fromBase64, toBase64, utf8 } from './bytes.ts';
import { canonicalJson } from './canonical-json.ts';
import { type PrivateKeyJwk, type PublicKeyJwk, signBytes, verifyBytes } from './ed25519.ts';
import { BlindDxError, type ErrorCode } from './errors.ts';

/** What a signature is for; part of the signed bytes, so a signature never verifies for another purpose. */
export type SignaturePurpose = 'client-manifest' | 'server-manifest' | 'response';

/** A JSON payload with a detached Ed25519 signature over its canonical form. */
export interface SignedDocument<T> {
  readonly payload: T;
  readonly signature: { readonly alg: 'Ed25519'; readonly kid: string; readonly sig: string };
}

/** The exact bytes signed: `blinddx:<purpose>:v1\n` followed by the canonical JSON of the payload. */
export function signingInput(purpose: SignaturePurpose, payload: unknown): Uint8Array {
  return utf8(`blinddx:${purpose}:v1\n${canonicalJson(payload)}`);
}

/** Signs `payload` for `purpose` with `key`. */
export async function signDocument<T>(
  purpose: SignaturePurpose,
  payload: T,
  key: PrivateKeyJwk,
): Promise<SignedDocument<T>> {
  const sig = await signBytes(key, signingInput(purpose, payload));
  return { payload, signature: { alg: 'Ed25519', kid: key.kid, sig: toBase64(sig) } };
}

/**
 * Verifies a signed document against a set of trusted keys and returns its payload (not yet
 * shape-checked). Throws `code` for an unsigned document, an unknown key or a bad signature.
 */
export async function verifyDocument(
  purpose: SignaturePurpose,
  doc: unknown,
  trusted: readonly PublicKeyJwk[],
  code: ErrorCode = 'MODEL_SIGNATURE_INVALID',
): Promise<unknown> {
  const d = doc as Partial<SignedDocument<unknown>> | null;
  if (d === null || typeof d !== 'object' || d.payload === undefined) {
    throw new BlindDxError(code, `verify ${purpose}: not a signed document (no payload)`);
  }
  const s = d.signature;
  if (s === undefined || s === null || typeof s !== 'object') {
    throw new BlindDxError(code, `verify ${purpose}: document is unsigned`);
  }
  if (s.alg !== 'Ed25519' || typeof s.kid !== 'string' || typeof s.sig !== 'string') {
    throw new BlindDxError(code, `verify ${purpose}: signature is not {alg:"Ed25519", kid, sig}`);
  }
  const key = trusted.find((k) => k.kid === s.kid);
  if (key === undefined) {
    throw new BlindDxError(code, `verify ${purpose}: signed by untrusted key ${s.kid}`);
  }
  let sig: Uint8Array;
  try {
    sig = fromBase64(s.sig);
  } catch {
    throw new BlindDxError(code, `verify ${purpose}: signature is not base64`);
  }
  let input: Uint8Array;
  try {
    input = signingInput(purpose, d.payload);
  } catch (e) {
    throw new BlindDxError(
      code,
      `verify ${purpose}: payload is not canonical JSON (${(e as Error).message})`,
    );
  }
  if (!(await verifyBytes(key, input, sig))) {
    throw new BlindDxError(code, `verify ${purpose}: signature does not verify with key ${s.kid}`);
  }
  return d.payload;
}

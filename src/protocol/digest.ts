import { _ab, toHex, utf8 } from './bytes.ts';
import { canonicalJson } from './canonical-json.ts';

/** A digest as it appears on the wire and in manifests: `sha256:<64 hex digits>`. */
export type Digest = `sha256:${string}`;

const _digestRe = /^sha256:[0-9a-f]{64}$/;

/** True if `s` is a well-formed {@link Digest}. */
export function isDigest(s: unknown): s is Digest {
  return typeof s === 'string' && _digestRe.test(s);
}

/**
 * SHA-256 of `bytes` through WebCrypto, as a {@link Digest}.
 *
 * @example
 * await sha256Digest(new Uint8Array()); // 'sha256:e3b0c442…b855'
 */
export async function sha256Digest(bytes: Uint8Array): Promise<Digest> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', _ab(bytes)));
  return `sha256:${toHex(d)}`;
}

/** SHA-256 of the canonical JSON of `value`. */
export async function jsonDigest(value: unknown): Promise<Digest> {
  return sha256Digest(utf8(canonicalJson(value)));
}

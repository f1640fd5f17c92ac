/**
 * The server's signature over each inference response. The signed statement ties together what
 * was asked (request digest, model id, client id), which model answered (model digest), what was
 * answered (result digest) and when. It travels in response headers (see {@link HEADER}).
 */
import { fromBase64, toBase64 } from './bytes.ts';
import { type Digest, isDigest, sha256Digest } from './digest.ts';
import type { PrivateKeyJwk, PublicKeyJwk } from './ed25519.ts';
import { signBytes, verifyBytes } from './ed25519.ts';
import { BlindDxError } from './errors.ts';
import { signingInput } from './signed-document.ts';
import { HEADER } from './wire.ts';

export interface ResponseStatement {
  readonly v: 1;
  readonly modelId: string;
  readonly clientId: string;
  /** SHA-256 of the exact request body bytes. */
  readonly requestDigest: Digest;
  readonly modelDigest: Digest;
  /** SHA-256 of the exact response body bytes. */
  readonly resultDigest: Digest;
  /** Milliseconds since the epoch at signing. */
  readonly signedAt: number;
}

/** Signs a statement; returns the headers to send with the response body. */
export async function signResponse(
  statement: ResponseStatement,
  key: PrivateKeyJwk,
): Promise<Record<string, string>> {
  const sig = await signBytes(key, signingInput('response', statement));
  return {
    [HEADER.modelId]: statement.modelId,
    [HEADER.modelDigest]: statement.modelDigest,
    [HEADER.requestDigest]: statement.requestDigest,
    [HEADER.resultDigest]: statement.resultDigest,
    [HEADER.signedAt]: String(statement.signedAt),
    [HEADER.signature]: `${key.kid}:${toBase64(sig)}`,
  };
}

/**
 * Client-side check of a response: recomputes the request and result digests from the bytes the
 * client sent and received, rebuilds the statement and verifies the server's signature. When
 * `expectedModelDigest` is given (from a verified bundle), the response must name that model.
 * Throws `RESPONSE_SIGNATURE_INVALID`.
 */
export async function verifyResponse(args: {
  headers: { get(name: string): string | null };
  requestBody: Uint8Array;
  responseBody: Uint8Array;
  modelId: string;
  clientId: string;
  serverKeys: readonly PublicKeyJwk[];
  expectedModelDigest?: Digest;
}): Promise<ResponseStatement> {
  const bad: (why: string) => never = (why) => {
    throw new BlindDxError('RESPONSE_SIGNATURE_INVALID', `cannot verify response: ${why}`);
  };
  const h = (name: string) => args.headers.get(name) ?? bad(`header ${name} is missing`);
  const modelDigest = h(HEADER.modelDigest);
  if (!isDigest(modelDigest)) bad('model digest is malformed');
  if (args.expectedModelDigest !== undefined && modelDigest !== args.expectedModelDigest) {
    bad(`response names model ${modelDigest}, expected ${args.expectedModelDigest}`);
  }
  const signedAt = Number(h(HEADER.signedAt));
  if (!Number.isSafeInteger(signedAt)) bad('signed-at is not an integer');
  const [kid, sigB64] = h(HEADER.signature).split(':');
  const key = args.serverKeys.find((k) => k.kid === kid) ?? bad(`signed by unknown server key ${kid}`);
  const statement: ResponseStatement = {
    v: 1,
    modelId: args.modelId,
    clientId: args.clientId,
    requestDigest: await sha256Digest(args.requestBody),
    modelDigest,
    resultDigest: await sha256Digest(args.responseBody),
    signedAt,
  };
  let sig: Uint8Array = new Uint8Array();
  try {
    sig = fromBase64(sigB64 ?? '');
  } catch {
    bad('signature is not base64');
  }
  if (!(await verifyBytes(key, signingInput('response', statement), sig))) {
    bad('signature does not match the request, result, model or time');
  }
  return statement;
}

/**
 * Signed model bundles. A bundle has two parts, each an Ed25519-signed manifest:
 *
 * - the **client part** (public): model id, version, preset, input layout, preprocessing, classes,
 *   the Galois steps the plan needs, digests of client-side files, and the digest of the server part;
 * - the **server part** (vendor-only): digests of the encoded weights and the plan.
 *
 * The client part names the server part's digest, so the **model digest** — SHA-256 of the client
 * manifest's canonical JSON — pins every file of the model. A client that verified the client part
 * can tie a response to the exact model that produced it.
 */
import { type Digest, isDigest, jsonDigest, sha256Digest } from './digest.ts';
import type { PrivateKeyJwk, PublicKeyJwk } from './ed25519.ts';
import { BlindDxError } from './errors.ts';
import { type SignedDocument, signDocument, verifyDocument } from './signed-document.ts';

export const CLIENT_MANIFEST_FORMAT = 'blinddx.client-manifest/1';
export const SERVER_MANIFEST_FORMAT = 'blinddx.server-manifest/1';

/** The public half of a model: everything a client needs to encrypt inputs and read results. */
export interface ClientManifest {
  readonly format: typeof CLIENT_MANIFEST_FORMAT;
  readonly modelId: string;
  readonly version: string;
  /** Name of the `he` parameter preset (ring degree, moduli, scale). */
  readonly preset: string;
  /** How inputs are packed into ciphertexts (owned by `nn`; opaque to the protocol). */
  readonly inputLayout: Readonly<Record<string, unknown>>;
  /** Cleartext preprocessing on the client (owned by `nn`; opaque to the protocol). */
  readonly preprocessing: Readonly<Record<string, unknown>>;
  readonly classes: readonly string[];
  /** Rotation steps the plan needs; the client generates exactly these Galois keys. */
  readonly galoisSteps: readonly number[];
  readonly needsRelinKeys: boolean;
  /** Client-side files (e.g. a cleartext backbone) by name. */
  readonly files: Readonly<Record<string, Digest>>;
  /** Digest of the server manifest payload. */
  readonly serverDigest: Digest;
}

/** The vendor-only half: which weight and plan files the server loads. */
export interface ServerManifest {
  readonly format: typeof SERVER_MANIFEST_FORMAT;
  readonly modelId: string;
  readonly version: string;
  readonly preset: string;
  readonly files: Readonly<Record<string, Digest>>;
}

export interface ModelBundle {
  readonly client: SignedDocument<ClientManifest>;
  readonly server: SignedDocument<ServerManifest>;
}

const _idRe = /^[a-z0-9][a-z0-9._-]{0,63}$/;

function _bad(what: string, why: string): never {
  throw new BlindDxError('MODEL_BUNDLE_MISMATCH', `cannot load ${what}: ${why}`);
}

function _files(v: unknown, what: string): Record<string, Digest> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) _bad(what, '"files" is not an object');
  for (const [k, d] of Object.entries(v as object)) {
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(k) || k.startsWith('.'))
      _bad(what, `file name "${k}" is not a plain name`);
    if (!isDigest(d)) _bad(what, `file "${k}" has no sha256 digest`);
  }
  return v as Record<string, Digest>;
}

/** Shape-checks an untrusted client manifest payload. */
export function parseClientManifest(v: unknown): ClientManifest {
  const m = v as Partial<ClientManifest> | null;
  const what = 'client manifest';
  if (m === null || typeof m !== 'object') _bad(what, 'not an object');
  if (m.format !== CLIENT_MANIFEST_FORMAT) _bad(what, `format is not ${CLIENT_MANIFEST_FORMAT}`);
  if (typeof m.modelId !== 'string' || !_idRe.test(m.modelId)) _bad(what, '"modelId" is not a lower-case id');
  if (typeof m.version !== 'string' || m.version.length === 0) _bad(what, '"version" is empty');
  if (typeof m.preset !== 'string' || m.preset.length === 0) _bad(what, '"preset" is empty');
  for (const k of ['inputLayout', 'preprocessing'] as const) {
    if (m[k] === null || typeof m[k] !== 'object' || Array.isArray(m[k]))
      _bad(what, `"${k}" is not an object`);
  }
  if (!Array.isArray(m.classes) || !m.classes.every((c) => typeof c === 'string')) {
    _bad(what, '"classes" is not a list of strings');
  }
  if (!Array.isArray(m.galoisSteps) || !m.galoisSteps.every((s) => Number.isSafeInteger(s))) {
    _bad(what, '"galoisSteps" is not a list of integers');
  }
  if (typeof m.needsRelinKeys !== 'boolean') _bad(what, '"needsRelinKeys" is not a boolean');
  _files(m.files, what);
  if (!isDigest(m.serverDigest)) _bad(what, '"serverDigest" is not a sha256 digest');
  return m as ClientManifest;
}

/** Shape-checks an untrusted server manifest payload. */
export function parseServerManifest(v: unknown): ServerManifest {
  const m = v as Partial<ServerManifest> | null;
  const what = 'server manifest';
  if (m === null || typeof m !== 'object') _bad(what, 'not an object');
  if (m.format !== SERVER_MANIFEST_FORMAT) _bad(what, `format is not ${SERVER_MANIFEST_FORMAT}`);
  if (typeof m.modelId !== 'string' || !_idRe.test(m.modelId)) _bad(what, '"modelId" is not a lower-case id');
  if (typeof m.version !== 'string' || m.version.length === 0) _bad(what, '"version" is empty');
  if (typeof m.preset !== 'string' || m.preset.length === 0) _bad(what, '"preset" is empty');
  _files(m.files, what);
  return m as ServerManifest;
}

/** The model digest: SHA-256 of the client manifest's canonical JSON. */
export function modelDigestOf(client: ClientManifest): Promise<Digest> {
  return jsonDigest(client);
}

/** Digests of the named files, for a manifest's `files`. */
export async function digestFiles(files: ReadonlyMap<string, Uint8Array>): Promise<Record<string, Digest>> {
  const out: Record<string, Digest> = {};
  for (const [name, bytes] of [...files].sort(([a], [b]) => (a < b ? -1 : 1)))
    out[name] = await sha256Digest(bytes);
  return out;
}

/**
 * Signs both parts of a bundle with the publisher key; fills the client part's `serverDigest`.
 *
 * @example
 * const bundle = await signModelBundle({ client, server }, publisherKey);
 */
export async function signModelBundle(
  parts: { client: Omit<ClientManifest, 'serverDigest' | 'format'>; server: Omit<ServerManifest, 'format'> },
  key: PrivateKeyJwk,
): Promise<ModelBundle> {
  const server = parseServerManifest({ ...parts.server, format: SERVER_MANIFEST_FORMAT });
  const client = parseClientManifest({
    ...parts.client,
    format: CLIENT_MANIFEST_FORMAT,
    serverDigest: await jsonDigest(server),
  });
  return {
    client: await signDocument('client-manifest', client, key),
    server: await signDocument('server-manifest', server, key),
  };
}

/**
 * Client-side check of a client part: signature by a trusted publisher key, then shape.
 * Returns the manifest and the model digest a response must name.
 */
export async function verifyClientBundle(
  doc: unknown,
  trusted: readonly PublicKeyJwk[],
): Promise<{ manifest: ClientManifest; modelDigest: Digest }> {
  const manifest = parseClientManifest(await verifyDocument('client-manifest', doc, trusted));
  return { manifest, modelDigest: await modelDigestOf(manifest) };
}

/**
 * Server-side check of a whole bundle: both signatures, both shapes, the parts belong together
 * (server digest, id, version, preset), and — when `files` is given — every listed file is present
 * with its digest. Throws `MODEL_SIGNATURE_INVALID` or `MODEL_BUNDLE_MISMATCH`.
 */
export async function verifyModelBundle(
  bundle: { client: unknown; server: unknown },
  trusted: readonly PublicKeyJwk[],
  files?: ReadonlyMap<string, Uint8Array>,
): Promise<{ client: ClientManifest; server: ServerManifest; modelDigest: Digest }> {
  const client = parseClientManifest(await verifyDocument('client-manifest', bundle.client, trusted));
  const server = parseServerManifest(await verifyDocument('server-manifest', bundle.server, trusted));
  const what = `model ${client.modelId}`;
  if ((await jsonDigest(server)) !== client.serverDigest)
    _bad(what, 'client part names a different server part');
  if (server.modelId !== client.modelId) _bad(what, `server part is for model ${server.modelId}`);
  if (server.version !== client.version)
    _bad(what, `server part is version ${server.version}, client ${client.version}`);
  if (server.preset !== client.preset) _bad(what, 'client and server parts name different presets');
  if (files !== undefined) {
    for (const [name, want] of Object.entries(server.files)) {
      const bytes = files.get(name);
      if (bytes === undefined) _bad(what, `file "${name}" is missing`);
      if ((await sha256Digest(bytes)) !== want) _bad(what, `file "${name}" does not match its signed digest`);
    }
  }
  return { client, server, modelDigest: await modelDigestOf(client) };
}

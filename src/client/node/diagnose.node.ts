/**
 * One encrypted diagnosis from Node, end to end (what `blinddx diagnose` runs):
 *
 *   pinned server key (first use: fetched and pinned) → verified model bundle → local keys (opened
 *   with the passphrase; made and sealed on first use) → image read locally → pinned backbone →
 *   embedding → encrypt → register once per server/model/key set → infer → response signature
 *   verified → results loaded defensively → logits decrypted → exact probabilities → local history.
 *
 * The image, the embedding, the secret key and the result never leave this process; only the
 * public key (once) and one ciphertext per scan are sent.
 */
import { HeContext } from '../../he/context.ts';
import { generateKeys, type KeySet } from '../../he/keys.ts';
import { type PublicKeyJwk, parsePublicKey } from '../../protocol/ed25519.ts';
import { BlindDxError } from '../../protocol/errors.ts';
import type { ServerKeyBody } from '../../protocol/schemas.ts';
import { BlindDxClient } from '../http-client.ts';
import { keySetId, openSecret, sealSecret } from '../key-vault.ts';
import { diagnoseEmbedding, openSplitHeadModel } from '../split-head-flow.ts';
import { Backbone, readPinnedBackbone } from './backbone.node.ts';
import { readImageInput } from './image-input.node.ts';
import { appendHistory, blinddxHome, loadKeys, saveKeys } from './key-store.node.ts';
import { fileClientIdCache, pinnedServerKeys, pinServerKeys } from './server-state.node.ts';

export interface DiagnoseOptions {
  readonly server: string;
  readonly token: string;
  readonly modelId: string;
  /** A file (PNG, JPEG, DICOM…) or a dataset entry such as `pneumoniamnist:test:12`. */
  readonly image: string;
  /** Publisher keys whose model signatures are trusted. */
  readonly trustedModelKeys: readonly PublicKeyJwk[];
  readonly passphrase: string;
  /**
   * Files that may hold the model's backbone (given the file name the bundle declares); the first
   * matching the signed digest is used.
   */
  readonly backboneCandidates: (file: string) => readonly string[];
  /** Default `$BLINDDX_HOME` or `~/.blinddx`. */
  readonly home?: string;
  /** Progress messages (never data). */
  readonly onStep?: (msg: string) => void;
}

export interface DiagnoseReport {
  readonly modelId: string;
  readonly version: string;
  readonly modelDigest: string;
  readonly classes: readonly string[];
  readonly probabilities: readonly number[];
  readonly predicted: number;
  readonly source: string;
  readonly truth?: string;
  readonly signature: {
    readonly verified: true;
    readonly serverKeys: readonly string[];
    readonly signedAt: string;
    readonly requestId: string | null;
  };
  readonly timingsMs: {
    readonly keys: number;
    readonly embed: number;
    readonly encrypt: number;
    readonly register: number;
    readonly roundTrip: number;
    readonly decrypt: number;
    readonly total: number;
  };
  readonly bytes: { readonly up: number; readonly down: number; readonly keyUpload: number };
  readonly keysCreated: boolean;
  readonly backbone: string;
  readonly historyPath: string;
}

async function _serverKeys(server: string, home: string): Promise<PublicKeyJwk[]> {
  const pinned = pinnedServerKeys(server, home);
  if (pinned !== undefined) return Promise.all(pinned.map((k, i) => parsePublicKey(k, `pinned key ${i}`)));
  const res = await fetch(`${server.replace(/\/$/, '')}/v1/server-key`);
  if (!res.ok) throw new BlindDxError('NOT_READY', `server key: HTTP ${res.status} from ${server}`);
  const body = (await res.json()) as ServerKeyBody;
  const keys = await Promise.all(body.keys.map((k, i) => parsePublicKey(k, `server key ${i}`)));
  pinServerKeys(server, keys, home);
  return keys;
}

/** Opens the stored key set for `preset`, or makes, seals and stores one. */
async function _openKeys(
  ctx: HeContext,
  preset: string,
  passphrase: string,
  home: string,
): Promise<{ keys: KeySet; keySetId: string; created: boolean }> {
  const stored = loadKeys(preset, home);
  if (stored !== undefined) {
    // Stored relin/Galois settings do not matter here: the rotation-free head uploads the public key only.
    const secret = await openSecret(stored.secret, passphrase);
    const keys = generateKeys(ctx, {}, secret);
    secret.fill(0);
    return { keys, keySetId: await keySetId(stored.secret.sealed), created: false };
  }
  const keys = generateKeys(ctx, {});
  const secretBytes = keys.exportSecretKey();
  const secret = await sealSecret(secretBytes, passphrase, preset);
  secretBytes.fill(0);
  saveKeys({ preset, createdAt: new Date().toISOString(), secret, galoisSteps: [], relin: false }, home);
  return { keys, keySetId: await keySetId(secret.sealed), created: true };
}

/** Runs one encrypted diagnosis and records it in the local history. */
export async function diagnoseImage(o: DiagnoseOptions): Promise<DiagnoseReport> {
  const home = o.home ?? blinddxHome();
  const step = o.onStep ?? (() => {});
  const t0 = performance.now();
  // The image first: a file that cannot be decoded (ImageError) is refused before any request.
  const input = await readImageInput(o.image);
  const serverKeys = await _serverKeys(o.server, home);
  const sdk = new BlindDxClient({
    baseUrl: o.server,
    token: o.token,
    trustedModelKeys: o.trustedModelKeys,
    serverKeys,
  });
  step(`verifying model ${o.modelId}`);
  const model = await openSplitHeadModel(sdk, o.modelId);
  const { path: backbonePath, bytes: backboneBytes } = await readPinnedBackbone(
    model,
    o.backboneCandidates(model.layout.backbone.file),
  );

  let t = performance.now();
  step('opening local keys');
  using ctx = await HeContext.create(model.manifest.preset);
  const opened = await _openKeys(ctx, model.manifest.preset, o.passphrase, home);
  using keys = opened.keys;
  const keysMs = performance.now() - t;

  t = performance.now();
  step('running the backbone locally');
  const backbone = await Backbone.load(model, backboneBytes);
  let embedding: Float32Array;
  try {
    embedding = await backbone.embed(input.image);
  } finally {
    await backbone.release();
  }
  const embedMs = performance.now() - t;

  step('encrypting and sending');
  const r = await diagnoseEmbedding({
    sdk,
    model,
    keys,
    clientIds: fileClientIdCache(o.server, opened.keySetId, home),
    embedding,
  });
  embedding.fill(0);
  const probabilities = [...r.probabilities];
  let predicted = 0;
  probabilities.forEach((p, i) => {
    if (p > probabilities[predicted]) predicted = i;
  });
  const timingsMs = {
    keys: keysMs,
    embed: embedMs,
    encrypt: r.timingsMs.encrypt,
    register: r.timingsMs.register,
    roundTrip: r.timingsMs.infer,
    decrypt: r.timingsMs.decrypt,
    total: performance.now() - t0,
  };
  const signedAt = new Date(r.statement.signedAt).toISOString();
  const historyPath = appendHistory(
    {
      id: r.requestId ?? crypto.randomUUID(),
      at: new Date().toISOString(),
      model: model.modelId,
      modelDigest: model.modelDigest,
      source: input.source,
      classes: model.manifest.classes,
      probabilities,
      server: o.server,
      signatureVerified: true,
      timingsMs: Object.fromEntries(Object.entries(timingsMs).map(([k, v]) => [k, Math.round(v * 10) / 10])),
      bytes: { up: r.bytes.up, down: r.bytes.down },
    },
    home,
  );
  return {
    modelId: model.modelId,
    version: model.manifest.version,
    modelDigest: model.modelDigest,
    classes: model.manifest.classes,
    probabilities,
    predicted,
    source: input.source,
    ...(input.truth === undefined ? {} : { truth: input.truth }),
    signature: { verified: true, serverKeys: serverKeys.map((k) => k.kid), signedAt, requestId: r.requestId },
    timingsMs,
    bytes: r.bytes,
    keysCreated: opened.created,
    backbone: backbonePath,
    historyPath,
  };
}

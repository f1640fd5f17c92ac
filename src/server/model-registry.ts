/**
 * Loads signed model bundles from disk and hands verified ones to the engine. Layout:
 *
 * ```
 * <modelsDir>/<any>/client.json   signed client manifest (served at GET /v1/models/:id)
 * <modelsDir>/<any>/server.json   signed server manifest
 * <modelsDir>/<any>/<file>        every file the server manifest names (weights, plan)
 * <modelsDir>/<any>/<file>        files the client manifest names (the public backbone), optional:
 *                                 served at GET /v1/models/:id/files/:name when present
 * ```
 *
 * Any unsigned, mis-signed or mismatched bundle stops the load with its coded error: a service
 * must not start with a model it cannot prove is the vendor's.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Digest, sha256Digest } from '../protocol/digest.ts';
import type { PublicKeyJwk } from '../protocol/ed25519.ts';
import { BlindDxError } from '../protocol/errors.ts';
import { type ClientManifest, type ModelBundle, verifyModelBundle } from '../protocol/model-bundle.ts';
import type { SignedDocument } from '../protocol/signed-document.ts';
import type { InferenceEngine, VerifiedModel } from './engine.ts';

export interface LoadedModel {
  readonly modelId: string;
  readonly version: string;
  readonly modelDigest: Digest;
  readonly manifest: ClientManifest;
  /** The client part exactly as signed, for clients to verify themselves. */
  readonly clientBundle: SignedDocument<ClientManifest>;
  /**
   * Public client files (e.g. the backbone ONNX) present in the bundle directory, each checked
   * against its digest in the signed client manifest.
   */
  readonly clientFiles: ReadonlyMap<string, Uint8Array>;
}

export interface ModelRegistry {
  get(modelId: string): LoadedModel | undefined;
  list(): readonly LoadedModel[];
}

/** A registry over already-loaded models. */
export function modelRegistry(models: readonly LoadedModel[]): ModelRegistry {
  const byId = new Map(models.map((m) => [m.modelId, m]));
  const list = Object.freeze([...byId.values()].sort((a, b) => (a.modelId < b.modelId ? -1 : 1)));
  return Object.freeze({ get: (id: string) => byId.get(id), list: () => list });
}

function _readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new BlindDxError('MODEL_BUNDLE_MISMATCH', `cannot load bundle ${file}: ${(e as Error).message}`);
  }
}

/**
 * Verifies one bundle (both signatures, parts, file digests) and gives it to the engine. Client
 * files in `files` (named by the client manifest) are kept for serving when their digest matches;
 * a client file whose bytes differ from its signed digest refuses the bundle.
 */
export async function loadBundle(
  bundle: { client: unknown; server: unknown },
  files: ReadonlyMap<string, Uint8Array>,
  trusted: readonly PublicKeyJwk[],
  engine: InferenceEngine,
): Promise<LoadedModel> {
  const v = await verifyModelBundle(bundle, trusted, files);
  const clientFiles = new Map<string, Uint8Array>();
  for (const [name, want] of Object.entries(v.client.files)) {
    const bytes = files.get(name);
    if (bytes === undefined) continue;
    if ((await sha256Digest(bytes)) !== want) {
      throw new BlindDxError(
        'MODEL_BUNDLE_MISMATCH',
        `model ${v.client.modelId}: client file "${name}" does not match its signed digest`,
      );
    }
    clientFiles.set(name, bytes);
  }
  const only = new Map([...files].filter(([name]) => Object.hasOwn(v.server.files, name)));
  const verified: VerifiedModel = {
    modelId: v.client.modelId,
    version: v.client.version,
    modelDigest: v.modelDigest,
    client: v.client,
    server: v.server,
    files: only,
  };
  await engine.loadModel(verified);
  return Object.freeze({
    modelId: v.client.modelId,
    version: v.client.version,
    modelDigest: v.modelDigest,
    manifest: v.client,
    clientBundle: bundle.client as ModelBundle['client'],
    clientFiles,
  });
}

/** Loads every bundle under `modelsDir` (null → none). Throws on the first bad bundle. */
export async function loadModelsDir(
  modelsDir: string | null,
  trusted: readonly PublicKeyJwk[],
  engine: InferenceEngine,
): Promise<ModelRegistry> {
  if (modelsDir === null || !existsSync(modelsDir)) return modelRegistry([]);
  const loaded: LoadedModel[] = [];
  for (const name of readdirSync(modelsDir).sort()) {
    const dir = join(modelsDir, name);
    if (!statSync(dir).isDirectory() || !existsSync(join(dir, 'client.json'))) continue;
    const bundle = {
      client: _readJson(join(dir, 'client.json')),
      server: _readJson(join(dir, 'server.json')),
    };
    const filesOf = (part: unknown) =>
      Object.keys((part as { payload?: { files?: object } })?.payload?.files ?? {});
    const names = [...new Set([...filesOf(bundle.server), ...filesOf(bundle.client)])];
    const files = new Map<string, Uint8Array>();
    for (const f of names) {
      // Names are checked by the manifest parser before use; unreadable files surface as "missing".
      if (/^[A-Za-z0-9._-]+$/.test(f) && !f.startsWith('.') && existsSync(join(dir, f))) {
        files.set(f, new Uint8Array(readFileSync(join(dir, f))));
      }
    }
    const m = await loadBundle(bundle, files, trusted, engine);
    if (loaded.some((x) => x.modelId === m.modelId)) {
      throw new BlindDxError(
        'MODEL_BUNDLE_MISMATCH',
        `cannot load ${dir}: model ${m.modelId} is already loaded`,
      );
    }
    loaded.push(m);
  }
  return modelRegistry(loaded);
}

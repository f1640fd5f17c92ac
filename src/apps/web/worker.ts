/**
 * The HE worker: SEAL (node-seal's WebAssembly) and the backbone (onnxruntime-web, wasm backend) run
 * here, off the page's thread, so the page stays responsive during key generation and encryption.
 * The secret key exists in clear only in this worker's memory, after `keygen` or `unlock`; at rest
 * it is sealed with the passphrase (`client/key-vault.ts`) and the page stores only that.
 *
 * A diagnosis is the shared client flow (`client/split-head-flow.ts`) over the SDK, with the pinned
 * backbone downloaded through `getModelFile` (checked against the signed bundle) and run by the
 * runtime-neutral `client/backbone.ts`. Every request the SDK sends goes through a recording fetch,
 * so the page can show exactly which bytes left the browser.
 */
import './polyfill.ts';
import sealWasmUrl from 'seal-wasm?url';
import ortWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';
import * as ort from 'onnxruntime-web/wasm';
import { SplitBackbone } from '../../client/backbone.ts';
import { BlindDxClient } from '../../client/http-client.ts';
import { keySetId as keySetIdOf, openSecret, sealSecret } from '../../client/key-vault.ts';
import { type ClientIdCache, diagnoseEmbedding, openSplitHeadModel } from '../../client/split-head-flow.ts';
import { configureSeal } from '../../he/_seal.ts';
import { HeContext } from '../../he/context.ts';
import { generateKeys, type KeySet } from '../../he/keys.ts';
import { decodeParts } from '../../protocol/parts-container.ts';
import { CONTENT_TYPE_PARTS, HEADER } from '../../protocol/wire.ts';
import type {
  ClientIdEntry,
  DiagnoseArgs,
  DiagnoseResult,
  KeygenResult,
  SentRequest,
  StepId,
  UnlockResult,
  WorkerMessage,
  WorkerRequest,
} from './worker-protocol.ts';

configureSeal({ locateFile: (path) => (path.endsWith('.wasm') ? sealWasmUrl : path) });
ort.env.wasm.wasmPaths = { wasm: ortWasmUrl };
ort.env.wasm.numThreads = 1; // no cross-origin isolation here, so no SharedArrayBuffer threads
ort.env.wasm.proxy = false; // already in a worker

interface WorkerScope {
  postMessage(message: WorkerMessage): void;
  onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null;
}
const scope = globalThis as unknown as WorkerScope;

interface Unlocked {
  readonly preset: string;
  readonly ctx: HeContext;
  readonly keys: KeySet;
  readonly keySetId: string;
  readonly publicKeyBytes: number;
  readonly secretKeyBytes: number;
}
let unlocked: Unlocked | undefined;
const backbones = new Map<string, SplitBackbone>();

const now = () => performance.now();

function lock(): void {
  if (unlocked === undefined) return;
  unlocked.keys[Symbol.dispose]();
  unlocked.ctx[Symbol.dispose]();
  unlocked = undefined;
}

async function keygen(preset: string, passphrase: string): Promise<KeygenResult> {
  if (typeof passphrase !== 'string' || passphrase.length < 8) {
    throw Object.assign(new Error('the passphrase needs at least 8 characters'), {
      code: 'VAULT_WEAK_PASSPHRASE',
    });
  }
  lock();
  let t = now();
  const ctx = await HeContext.create(preset);
  const context = now() - t;
  t = now();
  const keys = generateKeys(ctx, {});
  const publicKeyBytes = keys.exportPublic().publicKey.length;
  const keygenMs = now() - t;
  t = now();
  const secret = keys.exportSecretKey();
  const secretKeyBytes = secret.length;
  const sealed = await sealSecret(secret, passphrase, preset);
  secret.fill(0);
  const seal = now() - t;
  const keySetId = await keySetIdOf(sealed.sealed);
  unlocked = { preset, ctx, keys, keySetId, publicKeyBytes, secretKeyBytes };
  return {
    sealed,
    keySetId,
    preset,
    ringDegree: ctx.params.polyModulusDegree,
    publicKeyBytes,
    secretKeyBytes,
    timingsMs: { context, keygen: keygenMs, seal },
  };
}

async function unlock(
  preset: string,
  sealed: Parameters<typeof openSecret>[0],
  passphrase: string,
): Promise<UnlockResult> {
  let t = now();
  // A wrong passphrase throws VAULT_WRONG_PASSPHRASE here, before any key exists in memory.
  const secret = await openSecret(sealed, passphrase);
  const open = now() - t;
  lock();
  t = now();
  const ctx = await HeContext.create(preset);
  const context = now() - t;
  t = now();
  let keys: KeySet;
  try {
    keys = generateKeys(ctx, {}, secret);
  } catch (e) {
    ctx[Symbol.dispose]();
    throw e;
  } finally {
    secret.fill(0);
  }
  const publicKeyBytes = keys.exportPublic().publicKey.length;
  const keysMs = now() - t;
  const keySetId = await keySetIdOf(sealed.sealed);
  unlocked = { preset, ctx, keys, keySetId, publicKeyBytes, secretKeyBytes: secret.length };
  return {
    keySetId,
    preset,
    ringDegree: ctx.params.polyModulusDegree,
    publicKeyBytes,
    secretKeyBytes: secret.length,
    timingsMs: { context, open, keys: keysMs },
  };
}

const hex = (b: Uint8Array, n: number) =>
  Array.from(b.subarray(0, n), (x) => x.toString(16).padStart(2, '0')).join('');

/** `fetch` that records every request (method, path, size, first bytes, part names) and its answer. */
function recordingFetch(
  log: SentRequest[],
  onSend: (method: string, path: string) => void,
  onSigned: (kid: string) => void,
): typeof fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input));
    const method = init?.method ?? 'GET';
    const body = init?.body instanceof Uint8Array ? init.body : undefined;
    const headers = new Headers(init?.headers);
    const contentType = headers.get('content-type');
    onSend(method, url.pathname);
    const t = now();
    const res = await fetch(input, init);
    const buf = new Uint8Array(await res.arrayBuffer());
    const sig = res.headers.get(HEADER.signature);
    if (sig !== null && res.ok) onSigned(sig.split(':')[0]);
    let parts: SentRequest['parts'];
    if (body !== undefined && contentType === CONTENT_TYPE_PARTS) {
      try {
        parts = decodeParts(body, { maxParts: 16 }).map((p) => ({ name: p.name, bytes: p.bytes.length }));
      } catch {
        parts = undefined;
      }
    }
    log.push({
      method,
      path: url.pathname,
      contentType,
      bytes: body?.length ?? 0,
      head: body === undefined ? '' : hex(body, 64),
      ...(parts === undefined ? {} : { parts }),
      status: res.status,
      responseBytes: buf.length,
      ms: now() - t,
    });
    const nullBody = [101, 204, 205, 304].includes(res.status);
    return new Response(nullBody ? null : buf, {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
  }) as typeof fetch;
}

async function diagnose(
  a: DiagnoseArgs,
  progress: (step: StepId, note: string) => void,
): Promise<DiagnoseResult> {
  const keyState = unlocked;
  if (keyState === undefined) {
    throw Object.assign(new Error('unlock your keys first'), { code: 'KEYS_LOCKED' });
  }
  const t0 = now();
  const requests: SentRequest[] = [];
  let serverKid = '';
  const sdk = new BlindDxClient({
    baseUrl: a.baseUrl,
    token: a.token,
    trustedModelKeys: a.publisherKeys,
    serverKeys: a.serverKeys,
    fetch: recordingFetch(
      requests,
      (method, path) => {
        if (method === 'POST' && path === '/v1/clients')
          progress('send', 'registering your public key (once)');
        if (method === 'POST' && path.startsWith('/v1/infer/')) progress('send', 'sending the ciphertext');
      },
      (kid) => {
        serverKid = kid;
      },
    ),
  });

  progress('bundle', 'verifying the signed model bundle');
  let t = now();
  const model = await openSplitHeadModel(sdk, a.modelId);
  const bundleMs = now() - t;
  if (model.manifest.preset !== keyState.preset) {
    throw Object.assign(
      new Error(`model ${a.modelId} needs keys for ${model.manifest.preset}; yours are ${keyState.preset}`),
      { code: 'KEYS_WRONG_PRESET' },
    );
  }

  progress('backbone', 'loading the public backbone (digest checked against the bundle)');
  t = now();
  const file = model.layout.backbone.file;
  const backboneDigest = model.manifest.files[file];
  let backbone = backbones.get(backboneDigest);
  const backboneCached = backbone !== undefined;
  let backboneBytes = 0;
  if (backbone === undefined) {
    const bytes = await sdk.getModelFile(a.modelId, file);
    backboneBytes = bytes.length;
    backbone = await SplitBackbone.load(ort, model, bytes);
    backbones.set(backboneDigest, backbone);
  }
  const backboneLoadMs = now() - t;

  progress('embed', 'running the backbone on your image, locally');
  t = now();
  const input = backbone.preprocess(a.image);
  const preprocessMs = now() - t;
  t = now();
  const embedding = await backbone.embedInput(input);
  const embedMs = now() - t;
  input.fill(0);

  progress('encrypt', 'encrypting the embedding with your key');
  const known = new Map(Object.entries(a.clientIds));
  let registered: ClientIdEntry | null = null;
  const cache: ClientIdCache = {
    get: (id) => known.get(id)?.clientId,
    set: (id, clientId, expiresAt) => {
      known.set(id, { clientId, expiresAt });
      registered = { clientId, expiresAt };
    },
    delete: (id) => void known.delete(id),
  };
  let r: Awaited<ReturnType<typeof diagnoseEmbedding>>;
  try {
    r = await diagnoseEmbedding({ sdk, model, keys: keyState.keys, clientIds: cache, embedding });
  } finally {
    embedding.fill(0);
  }
  progress('decrypt', 'decrypted in this browser');
  const probabilities = [...r.probabilities];
  let predicted = 0;
  probabilities.forEach((p, i) => {
    if (p > probabilities[predicted]) predicted = i;
  });
  const pre = model.preprocessing;
  return {
    modelId: model.modelId,
    version: model.manifest.version,
    preset: model.manifest.preset,
    modelDigest: model.modelDigest,
    classes: model.manifest.classes,
    probabilities,
    predicted,
    clientId: r.clientId,
    registered,
    requestId: r.requestId,
    signature: {
      verified: true,
      serverKid,
      signedAt: new Date(r.statement.signedAt).toISOString(),
      requestDigest: r.statement.requestDigest,
      resultDigest: r.statement.resultDigest,
    },
    local: {
      sourceWidth: a.image.width,
      sourceHeight: a.image.height,
      sourceChannels: a.image.channels,
      inputShape: [1, pre.channels, pre.height, pre.width],
      embeddingDim: model.layout.embeddingDim,
      backboneFile: file,
      backboneDigest,
      backboneBytes,
      backboneCached,
    },
    bytes: r.bytes,
    timingsMs: {
      bundle: bundleMs,
      backboneLoad: backboneLoadMs,
      preprocess: preprocessMs,
      embed: embedMs,
      encrypt: r.timingsMs.encrypt,
      register: r.timingsMs.register,
      infer: r.timingsMs.infer,
      decrypt: r.timingsMs.decrypt,
      total: now() - t0,
    },
    requests,
  };
}

function errorOf(e: unknown): { code: string; message: string } {
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : String(e);
  return { code: typeof code === 'string' ? code : 'ERROR', message };
}

// One request at a time, in order: SEAL objects are not shared across concurrent tasks.
let queue: Promise<void> = Promise.resolve();
scope.onmessage = (e) => {
  const req = e.data;
  queue = queue.then(async () => {
    const post = (m: WorkerMessage) => scope.postMessage(m);
    try {
      let result: unknown;
      switch (req.op) {
        case 'keygen':
          post({ id: req.id, type: 'progress', step: 'keys', note: 'generating keys' });
          result = await keygen(req.preset, req.passphrase);
          break;
        case 'unlock':
          post({ id: req.id, type: 'progress', step: 'keys', note: 'opening your sealed key' });
          result = await unlock(req.preset, req.sealed, req.passphrase);
          break;
        case 'lock':
          lock();
          result = null;
          break;
        case 'diagnose':
          result = await diagnose(req.args, (step, note) =>
            post({ id: req.id, type: 'progress', step, note }),
          );
          break;
      }
      post({ id: req.id, type: 'done', result });
    } catch (err) {
      post({ id: req.id, type: 'error', ...errorOf(err) });
    }
  });
};

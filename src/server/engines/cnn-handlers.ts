/**
 * Worker-side tasks of {@link CnnEngine} (src/server/engines/cnn-engine.ts), run in the `he` worker
 * pool (one SEAL instance per worker):
 *
 * - `cnn:warm`: create the plan's context and parse its server plan ahead of the first request;
 * - `cnn:validate-keys`: load a client's uploaded material through hardened loading with exactly
 *   the plan's Galois steps and relinearization need (anything missing or extra is refused);
 * - `cnn:infer`: load each input ciphertext through hardened loading (this plan's parameters, top
 *   level, the plan's input scale, exact byte length), run the protected latency plan
 *   (`EncryptedCnn`: stages, extract, re-randomize, flood) and return each result ciphertext;
 * - `cnn:infer-packed`: the window-packed plan of the tiled flow — exactly the layout's `inputs`
 *   ciphertexts (hardened loading, same checks) in, its protected `outputs` ciphertexts out;
 * - `cnn:forget`: drop one client's parsed keys, encoded weights and mask reservoir (the client was
 *   deleted or expired); `cnn:clients`: how many clients this worker holds (a count, for tests).
 *
 * Per worker, contexts are cached by parameter fingerprint, parsed plans by model digest, and each
 * client's parsed keys with its encoded weights (`EncryptedCnn`) in a small LRU keyed by model and
 * material digest: a CNN's Galois keys are tens of MB, so they are sent to a worker only when it
 * asks (`CNN_NEEDS_KEYS`), not with every task.
 *
 * Errors leave the worker as catalog codes: bytes the caller sent wrong are `BAD_KEY_MATERIAL` /
 * `BAD_CIPHERTEXT` with the `he` code in the message; anything else stays internal.
 */
import { HeContext } from '../../he/context.ts';
import { saveCiphertext } from '../../he/crypt.ts';
import type { Ciphertext } from '../../he/handles.ts';
import { loadEvaluationKeys } from '../../he/hardened-load.ts';
import type { EvaluationKeys } from '../../he/keys.ts';
import { defineHandlers, type WorkerEnv } from '../../he/node/pool-protocol.ts';
import type { ParametersLiteral } from '../../he/params.ts';
import { EncryptedCnn } from '../../nn/cnn/encrypted-executor.ts';
import { parseCnnModel } from '../../nn/cnn/ir.ts';
import { loadServerPlan, type ServerPlan } from '../../nn/cnn/plan.ts';
import { planWindowPacked, type WindowPackedPlan } from '../../nn/cnn/window-packed.ts';
import { WindowPackedServer } from '../../nn/cnn/window-packed-he.ts';
import { BlindDxError } from '../../protocol/errors.ts';
import type { MaterialPayload } from './seal-head-handlers.ts';
import { codedRefusal, loadInputs } from './worker-loading.ts';

/** Error code a worker answers when it has not seen this client's keys (the engine resends them). */
export const NEEDS_KEYS = 'CNN_NEEDS_KEYS';

/** A model as a worker receives it with every task (parsed once per worker). */
export type CnnModelPayload = {
  /** Cache key: the model digest. */
  readonly key: string;
  /** The server plan as JSON (recomputed and checked by the engine at load). */
  readonly plan: string;
  /** Slot period of the client's input ciphertext (from the client plan). */
  readonly inputPeriod: number;
};

export type CnnValidateKeysInput = {
  readonly params: ParametersLiteral;
  readonly relin: boolean;
  readonly galoisSteps: readonly number[];
  readonly material: MaterialPayload;
};

export type CnnInferInput = {
  readonly model: CnnModelPayload;
  readonly materialDigest: string;
  /** Sent only after the worker answered {@link NEEDS_KEYS}. */
  readonly material?: MaterialPayload;
  readonly inputs: readonly Uint8Array[];
};

/** Clients whose parsed keys and encoded weights each worker keeps (tens of MB each at N=16384). */
export const CNN_KEY_CACHE_SIZE = 2;

interface LoadedPlan {
  readonly ctx: HeContext;
  readonly plan: ServerPlan;
  readonly period: number;
}

interface ClientState {
  readonly keys: EvaluationKeys;
  readonly cnn?: EncryptedCnn;
  readonly packed?: WindowPackedServer;
  /** Ready re-randomize + flood masks of this client (latency plan), each used exactly once. */
  readonly masks?: Ciphertext[];
}

/** Ready masks kept per client in each worker (one fresh Enc_pk(flood) each, ~0.5 MB at N=16384). */
export const CNN_MASK_RESERVOIR = 2;

/** A window-packed model as a worker receives it with every task. */
export type CnnPackedModelPayload = {
  /** Cache key: the model digest. */
  readonly key: string;
  /** model.json text (verified against the signed server bundle by the engine). */
  readonly model: string;
  readonly patches: number;
};

export type CnnPackedInferInput = {
  readonly model: CnnPackedModelPayload;
  readonly materialDigest: string;
  readonly material?: MaterialPayload;
  /** Exactly the layout's `inputs` ciphertexts: one request. */
  readonly inputs: readonly Uint8Array[];
};

interface LoadedPacked {
  readonly ctx: HeContext;
  readonly plan: WindowPackedPlan;
}

function _state<T>(env: WorkerEnv, key: string, make: () => T): T {
  let v = env.state.get(key) as T | undefined;
  if (v === undefined) env.state.set(key, (v = make()));
  return v;
}

async function _context(env: WorkerEnv, params: ParametersLiteral): Promise<HeContext> {
  const contexts = _state(env, 'cnn:contexts', () => new Map<string, Promise<HeContext>>());
  const k = JSON.stringify([
    params.scheme,
    params.polyModulusDegree,
    params.coeffModulusBits,
    params.scaleBits,
  ]);
  let c = contexts.get(k);
  if (c === undefined) {
    c = HeContext.create(params);
    contexts.set(k, c);
    c.catch(() => contexts.delete(k));
  }
  return c;
}

async function _planFor(env: WorkerEnv, m: CnnModelPayload): Promise<LoadedPlan> {
  const plans = _state(env, 'cnn:plans', () => new Map<string, LoadedPlan>());
  const hit = plans.get(m.key);
  if (hit !== undefined) return hit;
  const plan = loadServerPlan(JSON.parse(m.plan));
  const loaded = { ctx: await _context(env, plan.params), plan, period: m.inputPeriod };
  plans.set(m.key, loaded);
  return loaded;
}

function _loadKeys(
  ctx: HeContext,
  m: MaterialPayload,
  expect: { relin: boolean; galoisSteps: readonly number[] },
  what: string,
): EvaluationKeys {
  try {
    return loadEvaluationKeys(
      ctx,
      { publicKey: m.publicKey, relinKeys: m.relinKeys, galoisKeys: m.galoisKeys },
      { relin: expect.relin, galoisSteps: expect.galoisSteps },
    );
  } catch (e) {
    return codedRefusal('BAD_KEY_MATERIAL', what, e);
  }
}

function _clientState(
  env: WorkerEnv,
  k: string,
  material: MaterialPayload | undefined,
  make: (m: MaterialPayload) => ClientState,
): ClientState {
  const cache = _state(env, 'cnn:clients', () => new Map<string, ClientState>());
  const hit = cache.get(k);
  if (hit !== undefined) {
    cache.delete(k);
    cache.set(k, hit); // most recently used last
    return hit;
  }
  if (material === undefined) {
    throw Object.assign(new Error('this worker has not loaded the client keys'), { code: NEEDS_KEYS });
  }
  const state = make(material);
  cache.set(k, state);
  while (cache.size > CNN_KEY_CACHE_SIZE) {
    const [oldest, v] = cache.entries().next().value!;
    cache.delete(oldest);
    _dispose(v);
  }
  return state;
}

function _dispose(v: ClientState): void {
  for (const m of v.masks?.splice(0) ?? []) m[Symbol.dispose]();
  v.cnn?.[Symbol.dispose]();
  v.packed?.[Symbol.dispose]();
  v.keys[Symbol.dispose]();
}

/** What `cnn:forget` answers: whether this worker held the client, and how many it still holds. */
export type CnnForgetResult = { readonly dropped: boolean; readonly clients: number };

function forget(
  p: { readonly modelKey: string; readonly materialDigest: string },
  env: WorkerEnv,
): CnnForgetResult {
  const cache = _state(env, 'cnn:clients', () => new Map<string, ClientState>());
  const k = `${p.modelKey}/${p.materialDigest}`;
  const v = cache.get(k);
  if (v !== undefined) {
    cache.delete(k);
    _dispose(v); // also stops its mask refill (it checks keys.disposed)
  }
  return { dropped: v !== undefined, clients: cache.size };
}

function _withKeys(keys: EvaluationKeys, f: (k: EvaluationKeys) => ClientState): ClientState {
  try {
    return f(keys);
  } catch (e) {
    keys[Symbol.dispose]();
    throw e;
  }
}

function _clientFor(env: WorkerEnv, loaded: LoadedPlan, modelKey: string, p: CnnInferInput): ClientState {
  return _clientState(env, `${modelKey}/${p.materialDigest}`, p.material, (m) =>
    _withKeys(_loadKeys(loaded.ctx, m, loaded.plan, 'key material'), (keys) => ({
      keys,
      cnn: new EncryptedCnn(loaded.ctx, keys, loaded.plan),
      masks: [],
    })),
  );
}

/**
 * Tops a client's mask reservoir up, one mask per macrotask after the response is on its way, so
 * the next request skips the public-key encryption. Stops when the client was evicted.
 */
function _refillMasks(state: ClientState): void {
  const step = () => {
    const masks = state.masks;
    if (masks === undefined || state.keys.disposed || masks.length >= CNN_MASK_RESERVOIR) return;
    masks.push(state.cnn!.createMask());
    setTimeout(step, 0);
  };
  setTimeout(step, 0);
}

async function _packedFor(env: WorkerEnv, m: CnnPackedModelPayload): Promise<LoadedPacked> {
  const plans = _state(env, 'cnn:packed', () => new Map<string, LoadedPacked>());
  const hit = plans.get(m.key);
  if (hit !== undefined) return hit;
  const plan = planWindowPacked(parseCnnModel(JSON.parse(m.model)), { patches: m.patches });
  const loaded = { ctx: await _context(env, plan.chain.literal), plan };
  plans.set(m.key, loaded);
  return loaded;
}

async function validateKeys(p: CnnValidateKeysInput, env: WorkerEnv): Promise<{ bytes: number }> {
  const ctx = await _context(env, p.params);
  using _keys = _loadKeys(ctx, p.material, p, 'register: key material');
  const m = p.material;
  return { bytes: m.publicKey.length + (m.relinKeys?.length ?? 0) + (m.galoisKeys?.length ?? 0) };
}

async function infer(p: CnnInferInput, env: WorkerEnv): Promise<Uint8Array[]> {
  const loaded = await _planFor(env, p.model);
  const { ctx, period } = loaded;
  // Every input is loaded (and so checked) before the keys or any computation: one bad input refuses the batch.
  const inputs = loadInputs(ctx, p.inputs, {
    layout: { kind: 'slots', length: period, period },
    level: ctx.maxLevel,
    scale: ctx.defaultScale,
  });
  try {
    const state = _clientFor(env, loaded, p.model.key, p);
    const cnn = state.cnn!;
    const results = inputs.map((ct) => {
      // A ready mask when there is one (consumed by infer), else infer makes one now.
      const mask = state.masks?.shift();
      using out = cnn.infer(ct, mask === undefined ? {} : { mask });
      return saveCiphertext(out);
    });
    _refillMasks(state);
    return results;
  } finally {
    for (const c of inputs) c[Symbol.dispose]();
  }
}

async function inferPacked(p: CnnPackedInferInput, env: WorkerEnv): Promise<Uint8Array[]> {
  const { ctx, plan } = await _packedFor(env, p.model);
  if (p.inputs.length !== plan.inputs) {
    throw new BlindDxError(
      'BAD_REQUEST',
      `infer: a window-packed request has exactly ${plan.inputs} input ciphertexts, got ${p.inputs.length}`,
    );
  }
  const period = plan.block * plan.copies;
  const inputs = loadInputs(ctx, p.inputs, {
    layout: { kind: 'slots', length: period, period },
    level: ctx.maxLevel,
    scale: 2 ** plan.chain.inputScaleBits,
  });
  try {
    const server = _clientState(env, `${p.model.key}/${p.materialDigest}`, p.material, (m) =>
      _withKeys(
        _loadKeys(ctx, m, { relin: true, galoisSteps: plan.galoisSteps }, 'key material'),
        (keys) => ({
          keys,
          packed: new WindowPackedServer(ctx, keys, plan),
        }),
      ),
    ).packed!;
    const outs = server.run(inputs);
    try {
      return outs.map((o) => saveCiphertext(o));
    } finally {
      for (const o of outs) o[Symbol.dispose]();
    }
  } finally {
    for (const c of inputs) c[Symbol.dispose]();
  }
}

export const handlers = defineHandlers({
  'cnn:warm': async (m: CnnModelPayload, env: WorkerEnv) => {
    await _planFor(env, m);
    return env.workerId;
  },
  'cnn:validate-keys': validateKeys,
  'cnn:infer': infer,
  'cnn:warm-packed': async (m: CnnPackedModelPayload, env: WorkerEnv) => {
    await _packedFor(env, m);
    return env.workerId;
  },
  'cnn:infer-packed': inferPacked,
  'cnn:forget': async (p: { modelKey: string; materialDigest: string }, env: WorkerEnv) => forget(p, env),
  'cnn:clients': async (_: null, env: WorkerEnv) =>
    (env.state.get('cnn:clients') as Map<string, ClientState> | undefined)?.size ?? 0,
});

/**
 * Worker-side tasks of {@link SealHeadEngine} (src/server/engines/seal-head-engine.ts): each pool
 * worker has its own SEAL instance, and in it these handlers
 *
 * - `validate-keys`: load a client's uploaded public material through hardened loading
 *   (rotation-free head: a public key only — relinearization or Galois keys are refused);
 * - `infer`: load each input ciphertext through hardened loading at exactly the level and scale the
 *   plan fixes, evaluate the private head with fresh masks, and return each result as a `result`
 *   envelope.
 *
 * Per worker, the encoded head of each model is cached by model digest, and parsed evaluation keys
 * by material digest in a small LRU (a key set is a few hundred KiB of WebAssembly memory).
 *
 * Masks: a mask does not depend on the query, only on the client's public key and the model, and
 * costs about one public-key encryption (~8 ms at N=8192) against ~0.5 ms for the head itself. So
 * each worker keeps a small reservoir of ready mask sets per (model, client key), refilled one set
 * per macrotask after a request, off the request path; a request takes a set from the reservoir, or
 * makes one fresh if it is empty. Every set is consumed by exactly one evaluation
 * (`CoeffHeadEvaluator.evaluate` disposes it) — never kept after use, never reused. Reservoirs are
 * freed with their client's keys when the key cache evicts them.
 *
 * Errors leave the worker as catalog codes: bytes the caller sent wrong are `BAD_KEY_MATERIAL` /
 * `BAD_CIPHERTEXT` with the `he` code in the message; anything else stays internal.
 */
import type { HeContext } from '../../he/context.ts';
import { saveCiphertext } from '../../he/crypt.ts';
import { wrap } from '../../he/envelope.ts';
import { Evaluator } from '../../he/evaluator.ts';
import type { Ciphertext } from '../../he/handles.ts';
import { loadEvaluationKeys } from '../../he/hardened-load.ts';
import type { EvaluationKeys } from '../../he/keys.ts';
import { defineHandlers, type WorkerEnv } from '../../he/node/pool-protocol.ts';
import type { CoeffHeadServerPlan } from '../../nn/coeff-head-plan.ts';
import { CoeffHeadEvaluator } from '../../nn/coeff-head-server.ts';
import { type LinearHeadSpec, validateHeadSpec } from '../../nn/head.ts';
import { codedRefusal, loadInputs } from './worker-loading.ts';

/** A model as a worker receives it: small enough to send with every task (parsed once per worker). */
export type HeadModelPayload = {
  /** Cache key: the model digest. */
  readonly key: string;
  readonly preset: string;
  /** `head.json` text (verified against the signed server bundle by the engine). */
  readonly head: string;
  /** The server plan as JSON (checked by the engine against a plan recomputed from the head). */
  readonly plan: string;
};

export type MaterialPayload = {
  readonly publicKey: Uint8Array;
  readonly relinKeys?: Uint8Array;
  readonly galoisKeys?: Uint8Array;
};

export type ValidateKeysInput = {
  readonly preset: string;
  readonly material: MaterialPayload;
};

export type InferInput = {
  readonly model: HeadModelPayload;
  readonly material: MaterialPayload;
  readonly materialDigest: string;
  readonly inputs: readonly Uint8Array[];
};

/** Parsed key sets kept per worker (least recently used evicted and freed). */
export const KEY_CACHE_SIZE = 16;

/** Ready mask sets kept per (model, client key) in each worker: 2 × 256 KiB at N=8192, K ≤ 128. */
export const MASK_RESERVOIR_SIZE = 2;

interface LoadedHead {
  readonly ctx: HeContext;
  readonly evaluator: CoeffHeadEvaluator;
}

function _loadKeys(ctx: HeContext, m: MaterialPayload, what: string): EvaluationKeys {
  try {
    // Rotation-free head: the public key alone (masks are encrypted under it). Relinearization
    // and Galois keys are refused (HE_UNEXPECTED_KEY), never silently ignored.
    return loadEvaluationKeys(
      ctx,
      { publicKey: m.publicKey, relinKeys: m.relinKeys, galoisKeys: m.galoisKeys },
      { relin: false, galoisSteps: [] },
    );
  } catch (e) {
    return codedRefusal('BAD_KEY_MATERIAL', what, e);
  }
}

function _keyCache(env: WorkerEnv): Map<string, EvaluationKeys> {
  let c = env.state.get('seal-head:keys') as Map<string, EvaluationKeys> | undefined;
  if (c === undefined) {
    c = new Map();
    env.state.set('seal-head:keys', c);
  }
  return c;
}

function _keysFor(env: WorkerEnv, ctx: HeContext, digest: string, m: MaterialPayload): EvaluationKeys {
  const cache = _keyCache(env);
  const k = `${ctx.params.fingerprint}/${digest}`;
  const hit = cache.get(k);
  if (hit !== undefined) {
    cache.delete(k);
    cache.set(k, hit); // most recently used last
    return hit;
  }
  const keys = _loadKeys(ctx, m, 'key material');
  cache.set(k, keys);
  while (cache.size > KEY_CACHE_SIZE) {
    const [oldest, v] = cache.entries().next().value!;
    cache.delete(oldest);
    _dropReservoirs(env, oldest);
    v[Symbol.dispose]();
  }
  return keys;
}

type Reservoirs = Map<string, Ciphertext[][]>;

function _reservoirs(env: WorkerEnv): Reservoirs {
  let r = env.state.get('seal-head:masks') as Reservoirs | undefined;
  if (r === undefined) {
    r = new Map();
    env.state.set('seal-head:masks', r);
  }
  return r;
}

/** Frees every reservoir made under the evicted key set (their masks are encrypted under it). */
function _dropReservoirs(env: WorkerEnv, keyCacheKey: string): void {
  const all = _reservoirs(env);
  for (const [k, sets] of all) {
    if (!k.endsWith(`|${keyCacheKey}`)) continue;
    for (const set of sets) for (const m of set) m[Symbol.dispose]();
    all.delete(k);
  }
}

/** Takes a ready mask set (removing it, so it is used once) or makes one now. */
function _takeMasks(env: WorkerEnv, key: string, make: () => Ciphertext[]): Ciphertext[] {
  return _reservoirs(env).get(key)?.shift() ?? make();
}

/** Tops the reservoir up one set per macrotask, so a task arriving meanwhile waits for one set at most. */
function _refill(env: WorkerEnv, key: string, keys: EvaluationKeys, make: () => Ciphertext[]): void {
  const all = _reservoirs(env);
  const step = () => {
    if (keys.disposed) return;
    let sets = all.get(key);
    if (sets === undefined) all.set(key, (sets = []));
    if (sets.length >= MASK_RESERVOIR_SIZE) return;
    sets.push(make());
    setTimeout(step, 0);
  };
  setTimeout(step, 0);
}

async function _headFor(env: WorkerEnv, m: HeadModelPayload): Promise<LoadedHead> {
  const k = `seal-head:model:${m.key}`;
  const hit = env.state.get(k) as LoadedHead | undefined;
  if (hit !== undefined) return hit;
  const ctx = await env.context(m.preset);
  const head = validateHeadSpec(JSON.parse(m.head)) as LinearHeadSpec;
  const plan = JSON.parse(m.plan) as CoeffHeadServerPlan;
  const loaded = { ctx, evaluator: new CoeffHeadEvaluator(ctx, head, plan) };
  env.state.set(k, loaded);
  return loaded;
}

async function validateKeys(p: ValidateKeysInput, env: WorkerEnv): Promise<{ bytes: number }> {
  const ctx = await env.context(p.preset);
  using _keys = _loadKeys(ctx, p.material, 'register: key material');
  const m = p.material;
  return { bytes: m.publicKey.length + (m.relinKeys?.length ?? 0) + (m.galoisKeys?.length ?? 0) };
}

async function infer(p: InferInput, env: WorkerEnv): Promise<Uint8Array[]> {
  const { ctx, evaluator } = await _headFor(env, p.model);
  const keys = _keysFor(env, ctx, p.materialDigest, p.material);
  const reservoirKey = `${p.model.key}|${ctx.params.fingerprint}/${p.materialDigest}`;
  const makeMasks = () => evaluator.createMasks(keys);
  const plan = evaluator.plan;
  const ev = new Evaluator(ctx, keys);
  // Every input is loaded (and so checked) before any computation: one bad input refuses the batch.
  const loaded = loadInputs(ctx, p.inputs, {
    layout: { kind: 'coeffs', length: plan.inputDim },
    level: evaluator.level,
    scale: 2 ** plan.inputScaleBits,
  });
  try {
    const results = loaded.map((input) => {
      // One mask set per input, consumed (and disposed) by evaluate: each is used exactly once.
      const outs = evaluator.evaluate(ev, input, _takeMasks(env, reservoirKey, makeMasks));
      try {
        return _concat(outs.map((o) => wrap('result', ctx.params, saveCiphertext(o))));
      } finally {
        for (const o of outs) o[Symbol.dispose]();
      }
    });
    _refill(env, reservoirKey, keys, makeMasks);
    return results;
  } finally {
    for (const c of loaded) c[Symbol.dispose]();
  }
}

/** One output group → one envelope; several groups travel back to back (envelopes self-delimit). */
function _concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export const handlers = defineHandlers({
  /** Creates the context and encodes the head ahead of the first request. */
  'seal-head:warm': async (m: HeadModelPayload, env: WorkerEnv) => {
    await _headFor(env, m);
    return env.workerId;
  },
  'seal-head:validate-keys': validateKeys,
  'seal-head:infer': infer,
});

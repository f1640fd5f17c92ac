/**
 * The real {@link InferenceEngine} for split models with a linear head (the embedding flow): the
 * client runs the public backbone and sends its embedding encrypted; this engine evaluates the
 * vendor's private head on it with the rotation-free method (coefficient encoding, one plaintext
 * multiplication per output group, no relinearization or Galois keys) and returns masked,
 * re-randomized, noise-flooded results.
 *
 * All SEAL work runs in the `he` worker pool (one SEAL instance per worker, per-task timeouts,
 * crashed workers replaced) through `seal-head-handlers.ts`; the main thread only checks bundles
 * and routes bytes.
 *
 * A bundle is accepted only when it is consistent with itself: preset `ckks-8192-coeff`, a
 * `blinddx.split-head/1` input layout, `head.json` a valid linear head with the manifest's classes,
 * and `plan.json` exactly the plan recomputed here from the head and the bundle's declared embedding
 * bound, whose client half is exactly the one the client manifest publishes.
 */
import { WorkerPool } from '../../he/node/worker-pool.ts';
import { getPreset } from '../../he/presets.ts';
import { type CoeffHeadServerPlan, clientPlanOf, planCoeffHead } from '../../nn/coeff-head-plan.ts';
import { type LinearHeadSpec, validateHeadSpec } from '../../nn/head.ts';
import { canonicalJson } from '../../protocol/canonical-json.ts';
import { BlindDxError } from '../../protocol/errors.ts';
import { parseSplitHeadLayout, SPLIT_HEAD_PRESET } from '../../protocol/split-head-layout.ts';
import type { EngineStats, InferenceEngine, InferRequest, KeyMaterial, VerifiedModel } from '../engine.ts';
import { bundleMismatch, rethrowEngineError, taskKeyMaterial } from './engine-errors.ts';
import type { HeadModelPayload, handlers } from './seal-head-handlers.ts';

/** Server files of a split-head bundle. */
export const HEAD_FILE = 'head.json';
export const PLAN_FILE = 'plan.json';

export interface SealHeadEngineOptions {
  /** Worker threads (each its own SEAL instance). Default 2. */
  readonly workers?: number;
  /** Longest running time of one task before its worker is killed and replaced. Default 30 s. */
  readonly taskTimeoutMs?: number;
  /** Tasks waiting for a worker beyond which the engine answers QUEUE_FULL. Default 256. */
  readonly maxQueued?: number;
}

/** The server plan for a head and its bundle's declared bounds (shared with the bundle builder). */
export function headPlanFor(
  head: LinearHeadSpec,
  opts: { embeddingBound: number; floodSecurityBits?: number },
): CoeffHeadServerPlan {
  return planCoeffHead(head, {
    params: getPreset(SPLIT_HEAD_PRESET),
    embeddingBound: opts.embeddingBound,
    ...(opts.floodSecurityBits === undefined ? {} : { floodSecurityBits: opts.floodSecurityBits }),
  });
}

export class SealHeadEngine implements InferenceEngine {
  readonly #pool: WorkerPool<typeof handlers>;
  readonly #models = new Map<string, HeadModelPayload>();
  readonly #timeoutMs: number;

  constructor(options: SealHeadEngineOptions = {}) {
    this.#timeoutMs = options.taskTimeoutMs ?? 30_000;
    this.#pool = new WorkerPool<typeof handlers>({
      handlers: new URL('./seal-head-handlers.ts', import.meta.url),
      size: options.workers ?? 2,
      maxQueued: options.maxQueued ?? 256,
      taskTimeoutMs: this.#timeoutMs,
    });
  }

  async loadModel(model: VerifiedModel): Promise<void> {
    const id = model.modelId;
    if (model.client.preset !== SPLIT_HEAD_PRESET)
      bundleMismatch(id, `preset ${model.client.preset} is not ${SPLIT_HEAD_PRESET}`);
    if (model.client.needsRelinKeys || model.client.galoisSteps.length > 0)
      bundleMismatch(id, 'a rotation-free head needs no relinearization or Galois keys');
    const layout = parseSplitHeadLayout(model.client);
    const text = (name: string) => {
      const b = model.files.get(name);
      if (b === undefined) bundleMismatch(id, `server file ${name} is missing`);
      return new TextDecoder('utf-8', { fatal: true }).decode(b);
    };
    const headText = text(HEAD_FILE);
    let head: LinearHeadSpec;
    let declared: unknown;
    try {
      const h = validateHeadSpec(JSON.parse(headText));
      if (h.kind !== 'linear') bundleMismatch(id, `head kind ${h.kind} is not supported by this engine`);
      head = h;
      declared = JSON.parse(text(PLAN_FILE));
    } catch (e) {
      if (e instanceof BlindDxError) throw e;
      return bundleMismatch(id, (e as Error).message);
    }
    if (head.inputDim !== layout.embeddingDim)
      bundleMismatch(id, 'head input size differs from the manifest');
    if (head.activation !== layout.activation)
      bundleMismatch(id, 'head activation differs from the manifest');
    if (canonicalJson(head.classes) !== canonicalJson(model.client.classes))
      bundleMismatch(id, 'head classes differ from the manifest');
    const plan = headPlanFor(head, {
      embeddingBound: layout.plan.embeddingBound,
      floodSecurityBits: layout.plan.floodSecurityBits,
    });
    if (canonicalJson(plan) !== canonicalJson(declared))
      bundleMismatch(id, `${PLAN_FILE} is not the plan of this head and bound`);
    if (canonicalJson(clientPlanOf(plan)) !== canonicalJson(layout.plan))
      bundleMismatch(id, 'the client manifest publishes a different plan');
    const payload: HeadModelPayload = {
      key: model.modelDigest,
      preset: SPLIT_HEAD_PRESET,
      head: headText,
      plan: canonicalJson(plan),
    };
    this.#models.set(id, payload);
    // Warm every worker (context + encoded weights) so the first request does not pay for it:
    // with all workers idle, `size` tasks land on `size` different workers.
    await Promise.all(
      Array.from({ length: this.#pool.size }, () =>
        this.#pool.run('seal-head:warm', payload, { transfer: false }).catch((e) => rethrowEngineError(e)),
      ),
    );
  }

  #model(modelId: string): HeadModelPayload {
    const m = this.#models.get(modelId);
    if (m === undefined) throw new BlindDxError('NOT_FOUND', `engine: model ${modelId} is not loaded`);
    return m;
  }

  async validateKeyMaterial(modelId: string, material: KeyMaterial): Promise<{ bytes: number }> {
    const m = this.#model(modelId);
    try {
      return await this.#pool.run(
        'seal-head:validate-keys',
        { preset: m.preset, material: taskKeyMaterial(material) },
        { transfer: false },
      );
    } catch (e) {
      return rethrowEngineError(e);
    }
  }

  async infer(req: InferRequest): Promise<Uint8Array[]> {
    const model = this.#model(req.modelId);
    req.signal.throwIfAborted();
    try {
      return await this.#pool.run(
        'seal-head:infer',
        {
          model,
          material: taskKeyMaterial(req.material),
          materialDigest: req.materialDigest,
          inputs: req.inputs,
        },
        // The key material is the route's cached copy (and reused): copy, never transfer.
        { transfer: false, signal: req.signal },
      );
    } catch (e) {
      return rethrowEngineError(e, req.signal);
    }
  }

  stats(): EngineStats {
    const s = this.#pool.stats();
    return { workerRestarts: s.restarts, workers: s.size };
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}

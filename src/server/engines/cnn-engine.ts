/**
 * The {@link InferenceEngine} for encrypted CNNs served whole (the image flow): the client encrypts
 * its preprocessed, packed image under the parameters of the model's plan and uploads one seeded
 * ciphertext per image; this engine runs the protected latency plan (`nn/cnn`: im2col convolution,
 * BSGS linear layers, squares, output extraction, re-randomization and flooding) on the `he` worker
 * pool and returns one result ciphertext per image, at the level and scale the plan announces.
 *
 * A bundle is accepted only when it is consistent with itself: its server file `model.json` is a
 * valid CNN, the plan compiled from it here is protected, and its client half is exactly the one the
 * signed client manifest publishes (parameters, input packing, output slots, Galois steps, relin,
 * protection) — the server half (stages, weights) never leaves the server.
 *
 * Window-packed models (`blinddx.cnn-window-packed/1`, the tiled flow's packed mode) are served
 * the same way: a request is exactly the layout's input ciphertexts (many patches at once), the
 * answer its protected output ciphertexts; the bundle is checked against the layout recomputed here.
 *
 * Start-up stays fast: the plan is compiled once per model at load (≈0.1 s for the MNIST net);
 * worker contexts and parsed plans are warmed in the background, not awaited.
 */
import { TaskError, WorkerPool } from '../../he/node/worker-pool.ts';
import type { ParametersLiteral } from '../../he/params.ts';
import type { CnnPlan } from '../../nn/cnn/plan.ts';
import { type WindowPackedLayout, windowPackedLayout } from '../../nn/cnn/window-packed.ts';
import { canonicalJson } from '../../protocol/canonical-json.ts';
import {
  CNN_LAYOUT,
  CNN_PACKED_LAYOUT,
  cnnPresetName,
  parseCnnLayout,
  parseCnnPackedLayout,
} from '../../protocol/cnn-layout.ts';
import { BlindDxError } from '../../protocol/errors.ts';
import type { EngineStats, InferenceEngine, InferRequest, KeyMaterial, VerifiedModel } from '../engine.ts';
import {
  type CnnForgetResult,
  type CnnModelPayload,
  type CnnPackedModelPayload,
  type handlers,
  NEEDS_KEYS,
} from './cnn-handlers.ts';
import {
  CNN_MODEL_FILE,
  classNames,
  cnnClassesOf,
  parseCnnModelBytes,
  servedCnnPlanOfBytes,
  servedPackedPlan,
} from './cnn-model-bundle.ts';
import { bundleMismatch, rethrowEngineError, taskKeyMaterial } from './engine-errors.ts';

export interface CnnEngineOptions {
  /** Worker threads (each its own SEAL instance). Default 2. */
  readonly workers?: number;
  /** Longest running time of one task before its worker is killed and replaced. Default 30 s. */
  readonly taskTimeoutMs?: number;
  /** Tasks waiting for a worker beyond which the engine answers QUEUE_FULL. Default 256. */
  readonly maxQueued?: number;
}

type LoadedCnn = {
  readonly params: ParametersLiteral;
  readonly relin: boolean;
  readonly galoisSteps: readonly number[];
} & (
  | { readonly kind: 'cnn'; readonly payload: CnnModelPayload }
  | { readonly kind: 'cnn-packed'; readonly payload: CnnPackedModelPayload }
);

export class CnnEngine implements InferenceEngine {
  readonly #pool: WorkerPool<typeof handlers>;
  readonly #models = new Map<string, LoadedCnn>();

  constructor(options: CnnEngineOptions = {}) {
    this.#pool = new WorkerPool<typeof handlers>({
      handlers: new URL('./cnn-handlers.ts', import.meta.url),
      size: options.workers ?? 2,
      maxQueued: options.maxQueued ?? 256,
      taskTimeoutMs: options.taskTimeoutMs ?? 30_000,
    });
  }

  async loadModel(model: VerifiedModel): Promise<void> {
    const id = model.modelId;
    if (model.client.inputLayout.kind === CNN_PACKED_LAYOUT) return this.#loadPacked(model);
    if (model.client.inputLayout.kind !== CNN_LAYOUT) bundleMismatch(id, `input layout is not ${CNN_LAYOUT}`);
    let published: ReturnType<typeof parseCnnLayout>;
    try {
      published = parseCnnLayout(model.client);
    } catch (e) {
      return bundleMismatch(id, (e as Error).message);
    }
    const bytes = model.files.get(CNN_MODEL_FILE);
    if (bytes === undefined) bundleMismatch(id, `server file ${CNN_MODEL_FILE} is missing`);
    let plan: CnnPlan;
    try {
      // The plan of exactly these bytes: reused when this process just planned the same bytes (the
      // demo start-up's stamp or bundle build), planned here otherwise.
      ({ plan } = servedCnnPlanOfBytes(bytes, `model ${id}`, { last: true }));
    } catch (e) {
      if (e instanceof BlindDxError) throw e; // not a CNN: MODEL_BUNDLE_MISMATCH already
      return bundleMismatch(id, `cannot plan it: ${(e as Error).message}`);
    }
    if (plan.server.protection === undefined) bundleMismatch(id, 'its plan does not protect responses');
    if (canonicalJson(plan.client) !== canonicalJson(published))
      bundleMismatch(id, 'the client manifest publishes a different plan');
    if (cnnPresetName(plan.client) !== model.client.preset || model.server.preset !== model.client.preset)
      bundleMismatch(id, `preset ${model.client.preset} is not the plan's parameters`);
    if (canonicalJson(cnnClassesOf(plan)) !== canonicalJson(model.client.classes))
      bundleMismatch(id, 'classes differ from the manifest');
    const payload: CnnModelPayload = {
      key: model.modelDigest,
      plan: JSON.stringify(plan.server),
      inputPeriod: plan.client.input.period,
    };
    this.#models.set(id, {
      kind: 'cnn',
      payload,
      params: plan.client.params,
      relin: plan.server.relin,
      galoisSteps: plan.server.galoisSteps,
    });
    // Warm workers (context + parsed plan) in the background: start-up does not wait for it, and a
    // failure here resurfaces, coded, on the request that needs it.
    for (let i = 0; i < this.#pool.size; i++) {
      this.#pool.run('cnn:warm', payload, { transfer: false }).catch(() => {});
    }
  }

  async #loadPacked(model: VerifiedModel): Promise<void> {
    const id = model.modelId;
    let published: WindowPackedLayout;
    try {
      published = parseCnnPackedLayout(model.client);
    } catch (e) {
      return bundleMismatch(id, (e as Error).message);
    }
    const bytes = model.files.get(CNN_MODEL_FILE);
    if (bytes === undefined) bundleMismatch(id, `server file ${CNN_MODEL_FILE} is missing`);
    const cnn = parseCnnModelBytes(bytes, `model ${id}`);
    let plan: ReturnType<typeof servedPackedPlan>;
    try {
      plan = servedPackedPlan(cnn, published.patches);
    } catch (e) {
      return bundleMismatch(id, `cannot plan it: ${(e as Error).message}`);
    }
    if (canonicalJson(windowPackedLayout(plan)) !== canonicalJson(published))
      bundleMismatch(id, 'the client manifest publishes a different window-packed layout');
    if (canonicalJson(classNames(cnn, plan.classes)) !== canonicalJson(model.client.classes))
      bundleMismatch(id, 'classes differ from the manifest');
    const payload: CnnPackedModelPayload = {
      key: model.modelDigest,
      model: new TextDecoder().decode(bytes),
      patches: published.patches,
    };
    this.#models.set(id, {
      kind: 'cnn-packed',
      payload,
      params: plan.chain.literal,
      relin: true,
      galoisSteps: plan.galoisSteps,
    });
    for (let i = 0; i < this.#pool.size; i++) {
      this.#pool.run('cnn:warm-packed', payload, { transfer: false }).catch(() => {});
    }
  }

  #model(modelId: string): LoadedCnn {
    const m = this.#models.get(modelId);
    if (m === undefined) throw new BlindDxError('NOT_FOUND', `engine: model ${modelId} is not loaded`);
    return m;
  }

  async validateKeyMaterial(modelId: string, material: KeyMaterial): Promise<{ bytes: number }> {
    const m = this.#model(modelId);
    try {
      return await this.#pool.run(
        'cnn:validate-keys',
        { params: m.params, relin: m.relin, galoisSteps: m.galoisSteps, material: taskKeyMaterial(material) },
        { transfer: false },
      );
    } catch (e) {
      return rethrowEngineError(e);
    }
  }

  async infer(req: InferRequest): Promise<Uint8Array[]> {
    const model = this.#model(req.modelId);
    req.signal.throwIfAborted();
    // Inputs and keys are reused by the route (and a retry): copy, never transfer.
    const opts = { transfer: false, signal: req.signal };
    const task = (withKeys: boolean) => {
      const p = {
        materialDigest: req.materialDigest,
        ...(withKeys ? { material: taskKeyMaterial(req.material) } : {}),
        inputs: req.inputs,
      };
      return model.kind === 'cnn-packed'
        ? this.#pool.run('cnn:infer-packed', { ...p, model: model.payload }, opts)
        : this.#pool.run('cnn:infer', { ...p, model: model.payload }, opts);
    };
    try {
      try {
        return await task(false);
      } catch (e) {
        // The worker that took the task has not parsed this client's keys yet: send them this once.
        if (e instanceof TaskError && e.code === NEEDS_KEYS) return await task(true);
        throw e;
      }
    } catch (e) {
      return rethrowEngineError(e, req.signal);
    }
  }

  /**
   * Drops a client's parsed keys, encoded weights and ready masks on every worker (each may hold
   * ~hundreds of MB at N=16384): called when the client is deleted or expires. Runs after the
   * tasks already queued on each worker; answers what each worker dropped and still holds.
   */
  async forgetClient(modelId: string, materialDigest: string): Promise<CnnForgetResult[]> {
    const m = this.#models.get(modelId);
    if (m === undefined) return [];
    const p = { modelKey: m.payload.key, materialDigest };
    return Promise.all(
      Array.from({ length: this.#pool.size }, (_, worker) =>
        this.#pool.run('cnn:forget', p, { transfer: false, worker }),
      ),
    );
  }

  /** Clients whose keys each worker holds now (counts only; for tests and diagnostics). */
  async cachedClients(): Promise<number[]> {
    return Promise.all(
      Array.from({ length: this.#pool.size }, (_, worker) => this.#pool.run('cnn:clients', null, { worker })),
    );
  }

  stats(): EngineStats {
    const s = this.#pool.stats();
    return { workerRestarts: s.restarts, workers: s.size };
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}

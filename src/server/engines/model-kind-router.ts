/**
 * One {@link InferenceEngine} over several, chosen per model by the kind its signed client manifest
 * declares (`inputLayout.kind`: split-head → the SEAL head engine, cnn and cnn-packed → the CNN
 * engine, one instance for both). Each engine
 * is created on the first model of its kind, so a service with only split models starts no CNN
 * workers and the reverse.
 *
 * @example
 * const engine = new ModelKindRouter({ 'split-head': () => new SealHeadEngine(), cnn: () => new CnnEngine() });
 */
import { type ModelKind, modelKindOf } from '../../protocol/cnn-layout.ts';
import type { Digest } from '../../protocol/digest.ts';
import { BlindDxError } from '../../protocol/errors.ts';
import type { EngineStats, InferenceEngine, InferRequest, KeyMaterial, VerifiedModel } from '../engine.ts';

export type EngineFactories = Partial<Record<ModelKind, () => InferenceEngine>>;

export class ModelKindRouter implements InferenceEngine {
  readonly #factories: EngineFactories;
  readonly #engines = new Map<ModelKind, InferenceEngine>();
  readonly #byModel = new Map<string, InferenceEngine>();

  constructor(factories: EngineFactories) {
    this.#factories = factories;
  }

  async loadModel(model: VerifiedModel): Promise<void> {
    const declared = modelKindOf(model.client);
    // Window-packed CNNs run on the CNN engine unless a factory of their own is given.
    const kind = declared === 'cnn-packed' && this.#factories['cnn-packed'] === undefined ? 'cnn' : declared;
    const make = kind === null ? undefined : this.#factories[kind];
    if (kind === null || make === undefined) {
      throw new BlindDxError(
        'MODEL_BUNDLE_MISMATCH',
        `cannot load model ${model.modelId}: no engine serves input layout ${String(model.client.inputLayout.kind)}`,
      );
    }
    let engine = this.#engines.get(kind);
    if (engine === undefined) this.#engines.set(kind, (engine = make()));
    await engine.loadModel(model);
    this.#byModel.set(model.modelId, engine);
  }

  #engine(modelId: string): InferenceEngine {
    const e = this.#byModel.get(modelId);
    if (e === undefined) throw new BlindDxError('NOT_FOUND', `engine: model ${modelId} is not loaded`);
    return e;
  }

  validateKeyMaterial(modelId: string, material: KeyMaterial): Promise<{ bytes: number }> {
    return this.#engine(modelId).validateKeyMaterial(modelId, material);
  }

  infer(req: InferRequest): Promise<Uint8Array[]> {
    return this.#engine(req.modelId).infer(req);
  }

  async forgetClient(modelId: string, materialDigest: Digest): Promise<unknown> {
    return this.#byModel.get(modelId)?.forgetClient?.(modelId, materialDigest);
  }

  stats(): EngineStats {
    let workerRestarts = 0;
    let workers = 0;
    for (const e of this.#engines.values()) {
      const s = e.stats?.();
      workerRestarts += s?.workerRestarts ?? 0;
      workers += s?.workers ?? 0;
    }
    return { workerRestarts, workers };
  }

  async close(): Promise<void> {
    await Promise.all([...this.#engines.values()].map((e) => e.close()));
  }
}

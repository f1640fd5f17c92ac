/**
 * Turns an encrypted-CNN model (a `blinddx-cnn` IR file such as `models/mnist-tenseal/model.json`)
 * into a signed model bundle for {@link CnnEngine}, laid out the way the model registry loads it:
 *
 * ```
 * <out>/client.json   signed client part: preset (the plan's parameters), the CNN input layout
 *                     (the client half of the plan: parameters, preprocessing, input packing,
 *                     output slots, Galois steps, relin need, output protection), classes
 * <out>/server.json   signed server part: the digest of model.json
 * <out>/model.json    the CNN with its weights (vendor-only)
 * ```
 *
 * The plan is compiled here (protected, the served default) and the engine at load compares the
 * signed client part with the plan of the model.json bytes it loads, refusing the bundle unless both
 * agree — so the client part can never promise keys, packing or protection the server does not use.
 * Within one process the same bytes are planned once ({@link servedCnnPlanOfBytes}).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CnnModel, parseCnnModel } from '../../nn/cnn/ir.ts';
import type { CnnPlan } from '../../nn/cnn/plan.ts';
import { planCnn } from '../../nn/cnn/planner.ts';
import { planWindowPacked, type WindowPackedPlan, windowPackedLayout } from '../../nn/cnn/window-packed.ts';
import {
  CNN_LAYOUT,
  CNN_PACKED_LAYOUT,
  type CnnLayout,
  type CnnPackedLayout,
  cnnPresetName,
} from '../../protocol/cnn-layout.ts';
import { sha256Digest } from '../../protocol/digest.ts';
import type { PrivateKeyJwk } from '../../protocol/ed25519.ts';
import { BlindDxError } from '../../protocol/errors.ts';
import { digestFiles, signModelBundle } from '../../protocol/model-bundle.ts';
import type { BuiltBundle } from './split-model-bundle.ts';

/** The server file of a CNN bundle. */
export const CNN_MODEL_FILE = 'model.json';

/** True when `json` (parsed) looks like a CNN IR file, so a folder should be bundled as a CNN. */
export function isCnnModelJson(json: unknown): boolean {
  return (json as { format?: unknown } | null)?.format === 'blinddx-cnn';
}

/** Parses model.json bytes as a CNN; `MODEL_BUNDLE_MISMATCH` when they are not one. */
export function parseCnnModelBytes(bytes: Uint8Array, what: string): CnnModel {
  try {
    return parseCnnModel(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)));
  } catch (e) {
    throw new BlindDxError(
      'MODEL_BUNDLE_MISMATCH',
      `${what}: ${CNN_MODEL_FILE} is not a CNN model (${(e as Error).message})`,
    );
  }
}

/** The served (protected) plan of a CNN. */
export function servedCnnPlan(model: CnnModel): CnnPlan {
  return planCnn(model);
}

/**
 * Served plans of model.json files planned in this process and not yet used for the last time, by
 * the SHA-256 of their bytes. `npm start` plans a demo CNN for its bundle stamp, may build the
 * bundle from the same file, and the engine then checks the bundle it loads from disk against a
 * plan of that bundle's model.json: up to three plans of the same bytes (26–45 ms each for
 * mnist-cnn). The planner is a deterministic function of the bytes, so a hit is exactly what
 * planning again would return; bytes that differ in any way (a tampered or retrained file) miss and
 * are planned afresh. Bounded, and emptied by the last use, so plans do not stay in memory.
 */
const _pendingPlans = new Map<string, { readonly model: CnnModel; readonly plan: CnnPlan }>();
const _PENDING_PLANS = 4;

/**
 * Parses model.json bytes and returns the model and its served plan, planning only when the same
 * bytes were not planned earlier in this process (see {@link _pendingPlans}). `last`: this is the
 * plan's final use (the engine at load) — a cached entry is dropped and a fresh plan not kept.
 * Parse errors are `MODEL_BUNDLE_MISMATCH` (see {@link parseCnnModelBytes}); planner errors are
 * thrown as they are. The plan is shared: callers must not mutate it.
 */
export function servedCnnPlanOfBytes(
  bytes: Uint8Array,
  what: string,
  opts: { last?: boolean } = {},
): { readonly model: CnnModel; readonly plan: CnnPlan } {
  const key = createHash('sha256').update(bytes).digest('hex');
  const hit = _pendingPlans.get(key);
  if (hit !== undefined) {
    if (opts.last === true) _pendingPlans.delete(key);
    return hit;
  }
  const model = parseCnnModelBytes(bytes, what);
  const planned = { model, plan: servedCnnPlan(model) };
  if (opts.last !== true) {
    _pendingPlans.set(key, planned);
    for (const old of _pendingPlans.keys()) {
      if (_pendingPlans.size <= _PENDING_PLANS) break;
      _pendingPlans.delete(old);
    }
  }
  return planned;
}

/** The served (protected) window-packed plan of a CNN for `patches` patches per request. */
export function servedPackedPlan(model: CnnModel, patches: number): WindowPackedPlan {
  return planWindowPacked(model, { patches });
}

/** Class names of a model's `k` outputs: the model's, else "0", "1", …. */
export function classNames(model: CnnModel, k: number): string[] {
  return model.classes !== undefined && model.classes.length === k
    ? [...model.classes]
    : Array.from({ length: k }, (_, i) => String(i));
}

/** Class names of a plan's outputs: the model's, else "0", "1", …. */
export function cnnClassesOf(plan: CnnPlan): string[] {
  return plan.client.classes !== undefined
    ? [...plan.client.classes]
    : plan.client.output.positions.map((_, i) => String(i));
}

/**
 * Builds and signs the bundle of the CNN whose IR is `<dir>/model.json` (or the file `source`): the
 * latency plan (one image per ciphertext), or with `packedPatches` the window-packed plan for the
 * tiled flow (that many patches per request; model id `<name>.packed` by default).
 */
export async function buildCnnModelBundle(
  source: string,
  key: PrivateKeyJwk,
  opts: { modelId?: string; version?: string; packedPatches?: number } = {},
): Promise<BuiltBundle> {
  const file = source.endsWith('.json') ? source : join(source, CNN_MODEL_FILE);
  const bytes = new Uint8Array(readFileSync(file));
  const model = parseCnnModelBytes(bytes, `bundle ${source}`);
  const version =
    opts.version ?? `1.0.0+${(await sha256Digest(bytes)).slice('sha256:'.length, 'sha256:'.length + 12)}`;
  // The client part: the latency plan's client half, or the window-packed layout.
  let modelId: string;
  let client: {
    preset: string;
    inputLayout: CnnLayout | CnnPackedLayout;
    preprocessing: unknown;
    classes: string[];
    galoisSteps: readonly number[];
    needsRelinKeys: boolean;
  };
  if (opts.packedPatches !== undefined) {
    modelId = opts.modelId ?? `${model.name}.packed`;
    let plan: WindowPackedPlan;
    try {
      plan = servedPackedPlan(model, opts.packedPatches);
    } catch (e) {
      throw new BlindDxError('MODEL_BUNDLE_MISMATCH', `bundle ${source}: ${(e as Error).message}`);
    }
    const layout = windowPackedLayout(plan);
    client = {
      preset: cnnPresetName({ params: layout.chain.literal }),
      inputLayout: { kind: CNN_PACKED_LAYOUT, layout },
      preprocessing: layout.preprocessing,
      classes: classNames(model, layout.classes),
      galoisSteps: layout.galoisSteps,
      needsRelinKeys: true,
    };
  } else {
    modelId = opts.modelId ?? model.name;
    // Kept for the engine that loads this bundle next: the same bytes are planned once.
    const { plan } = servedCnnPlanOfBytes(bytes, `bundle ${source}`);
    client = {
      preset: cnnPresetName(plan.client),
      inputLayout: { kind: CNN_LAYOUT, plan: plan.client },
      preprocessing: plan.client.preprocessing,
      classes: cnnClassesOf(plan),
      galoisSteps: plan.client.galoisSteps,
      needsRelinKeys: plan.client.relin,
    };
  }
  const serverFiles = new Map([[CNN_MODEL_FILE, bytes]]);
  const bundle = await signModelBundle(
    {
      client: {
        modelId,
        version,
        preset: client.preset,
        // JSON round trip: the signed payload must be plain JSON.
        inputLayout: JSON.parse(JSON.stringify(client.inputLayout)),
        preprocessing: JSON.parse(JSON.stringify(client.preprocessing ?? {})),
        classes: client.classes,
        galoisSteps: [...client.galoisSteps],
        needsRelinKeys: client.needsRelinKeys,
        files: {},
      },
      server: { modelId, version, preset: client.preset, files: await digestFiles(serverFiles) },
    },
    key,
  );
  return { modelId, bundle, serverFiles, clientFiles: new Map() };
}

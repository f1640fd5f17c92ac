/**
 * The client manifest's `inputLayout` for an encrypted CNN served whole (the image is encrypted on
 * the client; every layer runs under encryption on the server): the client half of the CNN plan —
 * parameters, preprocessing, input packing, output slots, the exact Galois steps and relinearization
 * need, and the output protection every response carries. The server half (stages, weights) is
 * never in it.
 *
 * Also names the model kinds and the request header a client uses to state which kind it expects,
 * so an image ciphertext is never run by a model of another kind (`WRONG_MODEL_KIND`).
 *
 * @example
 * const plan = parseCnnLayout(manifest); // throws WRONG_MODEL_KIND / MODEL_BUNDLE_MISMATCH
 */
import type { ParametersLiteral } from '../he/params.ts';
import { type ClientPlan, loadClientPlan } from '../nn/cnn/plan.ts';
import type { WindowPackedLayout } from '../nn/cnn/window-packed.ts';
import { BlindDxError } from './errors.ts';
import type { ClientManifest } from './model-bundle.ts';
import { SPLIT_HEAD_LAYOUT } from './split-head-layout.ts';

export const CNN_LAYOUT = 'blinddx.cnn/1';

/**
 * The tiled flow's packed mode served: many patches per request in the window-packed layout
 * (`nn/cnn/window-packed.ts`; slot = (patch, window), one ciphertext per kernel-element group).
 */
export const CNN_PACKED_LAYOUT = 'blinddx.cnn-window-packed/1';

/** What a client manifest's layout says the model is. */
export type ModelKind = 'split-head' | 'cnn' | 'cnn-packed';

/** Every model kind, for request validation. */
export const MODEL_KINDS: readonly ModelKind[] = ['split-head', 'cnn', 'cnn-packed'];

/** Optional request header on `POST /v1/infer/:modelId`: the model kind the client encrypted for. */
export const MODEL_KIND_HEADER = 'x-blinddx-model-kind';

export interface CnnLayout {
  readonly kind: typeof CNN_LAYOUT;
  readonly plan: ClientPlan;
}

export interface CnnPackedLayout {
  readonly kind: typeof CNN_PACKED_LAYOUT;
  /** The weight-free public part of the window-packed plan. */
  readonly layout: WindowPackedLayout;
}

/** The kind of a manifest's model, or null when its layout is unknown. */
export function modelKindOf(manifest: Pick<ClientManifest, 'inputLayout'>): ModelKind | null {
  const k = manifest.inputLayout.kind;
  if (k === CNN_LAYOUT) return 'cnn';
  if (k === CNN_PACKED_LAYOUT) return 'cnn-packed';
  return k === SPLIT_HEAD_LAYOUT ? 'split-head' : null;
}

/** The manifest `preset` string of a CNN plan's parameters (the plan's preset name when it has one). */
export function cnnPresetName(plan: {
  readonly preset?: string;
  readonly params: ParametersLiteral;
}): string {
  if (plan.preset !== undefined) return plan.preset;
  const p = plan.params;
  return `${p.scheme}-${p.polyModulusDegree}-q${p.coeffModulusBits.join('.')}-s${p.scaleBits ?? 0}`;
}

function _bad(why: string): never {
  throw new BlindDxError('MODEL_BUNDLE_MISMATCH', `cannot use model: CNN input layout ${why}`);
}

/** Same multiset of steps, in any order (each list sorted once). */
function _sameSteps(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  const sa = [...a].sort((x, y) => x - y);
  const sb = [...b].sort((x, y) => x - y);
  return sa.every((s, i) => s === sb[i]);
}

/**
 * Shape-checks the CNN layout of a (signature-verified) client manifest and returns its client plan.
 * A manifest of another model kind is `WRONG_MODEL_KIND`; an inconsistent one `MODEL_BUNDLE_MISMATCH`.
 */
export function parseCnnLayout(manifest: ClientManifest): ClientPlan {
  const l = manifest.inputLayout as Partial<CnnLayout>;
  if (l.kind !== CNN_LAYOUT) {
    throw new BlindDxError(
      'WRONG_MODEL_KIND',
      `model ${manifest.modelId} is not an encrypted CNN (input layout ${String(l.kind)})`,
    );
  }
  let plan: ClientPlan;
  try {
    plan = loadClientPlan(l.plan);
  } catch (e) {
    return _bad((e as Error).message);
  }
  const p = plan.params;
  if (
    p === null ||
    typeof p !== 'object' ||
    p.scheme !== 'ckks' ||
    !Number.isSafeInteger(p.polyModulusDegree) ||
    !Array.isArray(p.coeffModulusBits)
  ) {
    _bad('has no CKKS parameters');
  }
  if (cnnPresetName(plan) !== manifest.preset) _bad(`parameters are not preset ${manifest.preset}`);
  if (!_sameSteps(plan.galoisSteps, manifest.galoisSteps)) _bad('Galois steps differ from the manifest');
  if (plan.relin !== manifest.needsRelinKeys) _bad('relinearization need differs from the manifest');
  if (plan.protection === undefined) _bad('is not protected (a served plan must protect its responses)');
  if (plan.output.positions.length !== manifest.classes.length)
    _bad(`has ${plan.output.positions.length} outputs, manifest ${manifest.classes.length} classes`);
  return plan;
}

/**
 * Shape-checks the window-packed layout of a (signature-verified) client manifest. A manifest of
 * another model kind is `WRONG_MODEL_KIND`; an inconsistent one `MODEL_BUNDLE_MISMATCH`.
 */
export function parseCnnPackedLayout(manifest: ClientManifest): WindowPackedLayout {
  const l = manifest.inputLayout as Partial<CnnPackedLayout>;
  if (l.kind !== CNN_PACKED_LAYOUT) {
    throw new BlindDxError(
      'WRONG_MODEL_KIND',
      `model ${manifest.modelId} is not a window-packed CNN (input layout ${String(l.kind)})`,
    );
  }
  const w = l.layout as Partial<WindowPackedLayout> | undefined;
  if (w === undefined || w === null || typeof w !== 'object' || w.kind !== 'window-packed')
    _bad('has no window-packed layout');
  const pos = (v: unknown) => Number.isSafeInteger(v) && (v as number) > 0;
  for (const k of ['patches', 'inputs', 'outputs', 'classes', 'block', 'copies', 'windows'] as const) {
    if (!pos(w[k])) _bad(`"${k}" is not a positive integer`);
  }
  const lit = w.chain?.literal;
  if (lit === undefined || lit.scheme !== 'ckks' || !Array.isArray(lit.coeffModulusBits))
    _bad('has no CKKS parameters');
  if (cnnPresetName({ params: lit }) !== manifest.preset)
    _bad(`parameters are not preset ${manifest.preset}`);
  if (!Array.isArray(w.galoisSteps) || !_sameSteps(w.galoisSteps, manifest.galoisSteps))
    _bad('Galois steps differ from the manifest');
  if (w.relin !== true || manifest.needsRelinKeys !== true)
    _bad('relinearization need differs from the manifest');
  if (w.protect !== true) _bad('is not protected (a served plan must protect its responses)');
  if (w.classes !== manifest.classes.length)
    _bad(`has ${w.classes} classes, manifest ${manifest.classes.length}`);
  return w as WindowPackedLayout;
}

/**
 * The client manifest's `inputLayout` for a split model with a rotation-free encrypted head: what a
 * client needs to turn an image into the ciphertext the server expects and to read the answer —
 * the backbone file and its tensor names, the embedding size, the client half of the head plan
 * (input scale, output coefficients, embedding bound) and the activation applied after decryption.
 * The head weights, their scale and the flood size are never in it.
 *
 * @example
 * const layout = parseSplitHeadLayout(manifest); // throws MODEL_BUNDLE_MISMATCH when malformed
 */
import type { CoeffHeadClientPlan } from '../nn/coeff-head-plan.ts';
import type { HeadActivation } from '../nn/head.ts';
import { BlindDxError } from './errors.ts';
import type { ClientManifest } from './model-bundle.ts';

export const SPLIT_HEAD_LAYOUT = 'blinddx.split-head/1';

/** The only preset the rotation-free head runs on today. */
export const SPLIT_HEAD_PRESET = 'ckks-8192-coeff';

export interface SplitHeadLayout {
  readonly kind: typeof SPLIT_HEAD_LAYOUT;
  readonly embeddingDim: number;
  /** Applied by the client to the decrypted logits (never under encryption). */
  readonly activation: HeadActivation;
  /** The public ONNX backbone: a client-side file of the bundle and its tensor names. */
  readonly backbone: { readonly file: string; readonly input: string; readonly output: string };
  readonly plan: CoeffHeadClientPlan;
}

function _bad(why: string): never {
  throw new BlindDxError('MODEL_BUNDLE_MISMATCH', `cannot use model: input layout ${why}`);
}

const _posInt = (v: unknown) => Number.isSafeInteger(v) && (v as number) > 0;

/** Shape-checks the input layout of a (signature-verified) client manifest. */
export function parseSplitHeadLayout(manifest: ClientManifest): SplitHeadLayout {
  const l = manifest.inputLayout as Partial<SplitHeadLayout>;
  if (l.kind !== SPLIT_HEAD_LAYOUT) _bad(`is not ${SPLIT_HEAD_LAYOUT}`);
  if (!_posInt(l.embeddingDim)) _bad('"embeddingDim" is not a positive integer');
  if (l.activation !== 'sigmoid' && l.activation !== 'softmax') _bad('"activation" is not sigmoid/softmax');
  const b = l.backbone;
  if (
    b === null ||
    typeof b !== 'object' ||
    typeof b.file !== 'string' ||
    typeof b.input !== 'string' ||
    typeof b.output !== 'string'
  ) {
    _bad('"backbone" is not {file, input, output}');
  }
  if (!Object.hasOwn(manifest.files, b.file))
    _bad(`names backbone "${b.file}", which the bundle does not pin`);
  const p = l.plan as Partial<CoeffHeadClientPlan> | undefined;
  if (p === undefined || p === null || typeof p !== 'object') _bad('has no "plan"');
  if (p.method !== 'rotation-free') _bad('plan method is not rotation-free');
  if (p.inputDim !== l.embeddingDim) _bad('plan input size differs from "embeddingDim"');
  if (!_posInt(p.outputs)) _bad('plan "outputs" is not a positive integer');
  if (!_posInt(p.inputScaleBits) || (p.inputScaleBits as number) > 200)
    _bad('plan "inputScaleBits" is out of range');
  if (!(typeof p.embeddingBound === 'number' && p.embeddingBound > 0 && Number.isFinite(p.embeddingBound)))
    _bad('plan "embeddingBound" is not a positive number');
  if (
    !Array.isArray(p.groups) ||
    p.groups.length === 0 ||
    !p.groups.every((g) => Array.isArray(g) && g.every((i) => Number.isSafeInteger(i) && i >= 0))
  ) {
    _bad('plan "groups" is not a list of coefficient index lists');
  }
  if (p.groups.flat().length !== p.outputs) _bad('plan "groups" do not hold exactly "outputs" positions');
  const classes = l.activation === 'sigmoid' ? 2 : p.outputs;
  if (manifest.classes.length !== classes)
    _bad(`expects ${classes} classes, manifest has ${manifest.classes.length}`);
  if (l.activation === 'sigmoid' && p.outputs !== 1) _bad('a sigmoid head must have one output');
  return l as SplitHeadLayout;
}

/**
 * The public backbone of a split model on this machine with onnxruntime-node. The backbone file is
 * used only if its SHA-256 equals the digest the verified client bundle pins.
 */
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { sha256Digest } from '../../protocol/digest.ts';
import { BlindDxError } from '../../protocol/errors.ts';
import { SplitBackbone } from '../backbone.ts';
import type { SplitHeadModel } from '../split-head-flow.ts';

/** Reads the first candidate file whose digest matches the bundle's pin for the backbone. */
export async function readPinnedBackbone(
  model: SplitHeadModel,
  candidates: readonly string[],
): Promise<{ path: string; bytes: Uint8Array }> {
  const want = model.manifest.files[model.layout.backbone.file];
  const seen: string[] = [];
  for (const path of candidates) {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(path));
    } catch {
      continue;
    }
    if ((await sha256Digest(bytes)) === want) return { path, bytes };
    seen.push(path);
  }
  throw new BlindDxError(
    'MODEL_BUNDLE_MISMATCH',
    seen.length > 0
      ? `backbone: ${seen.join(', ')} does not match the signed digest ${want} of model ${model.modelId}`
      : `backbone: no file found for model ${model.modelId} (looked in ${candidates.join(', ')}); pass --backbone`,
  );
}

/** The backbone on onnxruntime-node (the runtime-neutral core is `../backbone.ts`). */
export const Backbone = Object.freeze({
  load: (model: SplitHeadModel, bytes: Uint8Array): Promise<SplitBackbone> =>
    SplitBackbone.load(ort, model, bytes),
});

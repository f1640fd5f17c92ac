/**
 * Turns a split-model folder (`blinddx train` output: model.json, backbone.onnx, head.json) into a
 * signed model bundle for {@link SealHeadEngine}, written the way the model registry loads it:
 *
 * ```
 * <out>/client.json    signed client part: preset, split-head input layout (client plan: input
 *                      scale, output coefficients, embedding bound, outputs), preprocessing,
 *                      classes, backbone digest
 * <out>/server.json    signed server part: digests of head.json and plan.json
 * <out>/head.json      the private head (vendor-only)
 * <out>/plan.json      the server plan (vendor-only: weight scale, flood size)
 * <out>/backbone.onnx  the public backbone (client file, pinned by the client part)
 * ```
 *
 * The embedding bound is measured on the model's validation split (smallest power of two ≥ 4× the
 * largest |value|), the same rule `blinddx demo` and `blinddx eval` use, unless given.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clientPlanOf } from '../../nn/coeff-head-plan.ts';
import { loadMedMnist, MEDMNIST_CLASSES, type MedMnistName } from '../../nn/data/medmnist.node.ts';
import { computeEmbeddings } from '../../nn/eval/embeddings.node.ts';
import { embeddingBoundFrom } from '../../nn/eval/encrypted-eval.node.ts';
import { loadSplitModelDir } from '../../nn/train/evaluate.node.ts';
import { canonicalJson } from '../../protocol/canonical-json.ts';
import type { PrivateKeyJwk } from '../../protocol/ed25519.ts';
import { BlindDxError } from '../../protocol/errors.ts';
import { digestFiles, type ModelBundle, signModelBundle } from '../../protocol/model-bundle.ts';
import {
  SPLIT_HEAD_LAYOUT,
  SPLIT_HEAD_PRESET,
  type SplitHeadLayout,
} from '../../protocol/split-head-layout.ts';
import { HEAD_FILE, headPlanFor, PLAN_FILE } from './seal-head-engine.ts';

export interface BuiltBundle {
  readonly modelId: string;
  readonly bundle: ModelBundle;
  /** Files the server loads (head.json, plan.json). */
  readonly serverFiles: ReadonlyMap<string, Uint8Array>;
  /** Files the client needs (backbone.onnx). */
  readonly clientFiles: ReadonlyMap<string, Uint8Array>;
}

export interface BuildOptions {
  /** Default: the model's `name` (its folder name at training). */
  readonly modelId?: string;
  /** Default `1.0.0+<first 12 hex of the head digest>`, so a retrained head is a new version. */
  readonly version?: string;
  /** Default: measured on the validation split of the model's MedMNIST dataset. */
  readonly embeddingBound?: number;
}

/** Builds and signs the bundle of the split model in `dir`. */
export async function buildSplitModelBundle(
  dir: string,
  key: PrivateKeyJwk,
  opts: BuildOptions = {},
): Promise<BuiltBundle> {
  const { manifest, backbone, head } = loadSplitModelDir(dir);
  const modelId = opts.modelId ?? manifest.name;
  if (head.kind !== 'linear') {
    throw new BlindDxError('MODEL_BUNDLE_MISMATCH', `bundle ${dir}: only linear heads can be served so far`);
  }
  let bound = opts.embeddingBound;
  if (bound === undefined) {
    if (!Object.hasOwn(MEDMNIST_CLASSES, manifest.dataset)) {
      throw new BlindDxError(
        'BAD_REQUEST',
        `bundle ${dir}: dataset ${manifest.dataset} has no validation split here; give the embedding bound`,
      );
    }
    const val = loadMedMnist(manifest.dataset as MedMnistName, 'val');
    bound = embeddingBoundFrom((await computeEmbeddings(backbone, manifest.preprocessing, val)).data);
  }
  const plan = headPlanFor(head, { embeddingBound: bound });
  const layout: SplitHeadLayout = {
    kind: SPLIT_HEAD_LAYOUT,
    embeddingDim: head.inputDim,
    activation: head.activation,
    backbone: {
      file: manifest.backbone.file,
      input: manifest.backbone.input.name,
      output: manifest.backbone.output.name,
    },
    plan: clientPlanOf(plan),
  };
  const enc = new TextEncoder();
  const headBytes = new Uint8Array(readFileSync(join(dir, manifest.head.file)));
  const serverFiles = new Map([
    [HEAD_FILE, headBytes],
    [PLAN_FILE, enc.encode(canonicalJson(plan))],
  ]);
  const clientFiles = new Map([[manifest.backbone.file, backbone]]);
  const version = opts.version ?? `1.0.0+${manifest.head.sha256.slice(0, 12)}`;
  const bundle = await signModelBundle(
    {
      client: {
        modelId,
        version,
        preset: SPLIT_HEAD_PRESET,
        // JSON round trip: the signed payload must be plain JSON (no frozen class instances).
        inputLayout: JSON.parse(JSON.stringify(layout)),
        preprocessing: JSON.parse(JSON.stringify(manifest.preprocessing)),
        classes: [...manifest.classes],
        galoisSteps: [],
        needsRelinKeys: false,
        files: await digestFiles(clientFiles),
      },
      server: { modelId, version, preset: SPLIT_HEAD_PRESET, files: await digestFiles(serverFiles) },
    },
    key,
  );
  return { modelId, bundle, serverFiles, clientFiles };
}

function _writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** Writes a built bundle into `outDir` (created); returns it. Server manifest last. */
export function writeBundle(outDir: string, b: BuiltBundle): string {
  mkdirSync(outDir, { recursive: true });
  for (const [name, bytes] of [...b.clientFiles, ...b.serverFiles]) _writeAtomic(join(outDir, name), bytes);
  _writeAtomic(join(outDir, 'client.json'), `${JSON.stringify(b.bundle.client, null, 2)}\n`);
  _writeAtomic(join(outDir, 'server.json'), `${JSON.stringify(b.bundle.server, null, 2)}\n`);
  return outDir;
}

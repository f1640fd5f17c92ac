/**
 * Demo models for `npm start` with nothing configured. The repository commits the trained split
 * models (`models/<name>/`: model.json, backbone.onnx, head.json) but no signing key: on start, the
 * service makes a demo publisher key once under its data directory, signs a bundle for every split
 * model with a linear head and for the CNN models it is asked to serve (`cnnModels`, e.g.
 * mnist-cnn: planned once per start, protected — the stamp, the bundle build and the engine's check
 * share the plan of the same bytes), and trusts that key (and only for these bundles' directory).
 *
 * ```
 * <dataDir>/demo-publisher.key.json   private Ed25519 key (0600), made on the first start
 * <dataDir>/demo-publisher.pub.json   its public half: what a client trusts (blinddx diagnose uses
 *                                     it by default when run from the same folder)
 * <dataDir>/demo-models/<name>/       signed bundles (rebuilt when the model's files change)
 * ```
 *
 * A vendor's real deployment sets `modelsDir` and `trustedKeyFiles` instead, with bundles signed
 * offline by `blinddx bundle`; then nothing here runs.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  generateSigningKey,
  type PrivateKeyJwk,
  parsePrivateKey,
  publicPart,
} from '../../protocol/ed25519.ts';
import { buildCnnModelBundle, CNN_MODEL_FILE, servedCnnPlanOfBytes } from './cnn-model-bundle.ts';
import { buildSplitModelBundle, writeBundle } from './split-model-bundle.ts';

export interface DemoModels {
  readonly modelsDir: string;
  readonly trustedKeyFile: string;
  readonly models: readonly string[];
  /** Folders skipped, with why (not a split model, an MLP head, unreadable…). */
  readonly skipped: readonly { readonly dir: string; readonly why: string }[];
}

async function _demoKey(dataDir: string): Promise<{ key: PrivateKeyJwk; pubFile: string }> {
  const keyFile = join(dataDir, 'demo-publisher.key.json');
  const pubFile = join(dataDir, 'demo-publisher.pub.json');
  let key: PrivateKeyJwk;
  if (existsSync(keyFile)) {
    key = await parsePrivateKey(JSON.parse(readFileSync(keyFile, 'utf8')), keyFile);
  } else {
    key = await generateSigningKey();
    writeFileSync(keyFile, `${JSON.stringify(key, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(keyFile, 0o600);
  }
  writeFileSync(pubFile, `${JSON.stringify(publicPart(key), null, 2)}\n`);
  return { key, pubFile };
}

function _cnnPlanStamp(dir: string): string {
  try {
    const bytes = new Uint8Array(readFileSync(join(dir, CNN_MODEL_FILE)));
    // Kept for the bundle build and the engine's check that follow: the same bytes plan once.
    return JSON.stringify(servedCnnPlanOfBytes(bytes, dir).plan.client);
  } catch (e) {
    return `unplannable: ${(e as Error).message}`;
  }
}

/** Signs (or reuses) a bundle for each split model under `sourceDir`. */
export async function prepareDemoModels(opts: {
  sourceDir: string;
  dataDir: string;
  /** CNN model folders (model.json in the `blinddx-cnn` IR) to serve too, by name. Default none. */
  cnnModels?: readonly string[];
  log?: (msg: string) => void;
}): Promise<DemoModels> {
  mkdirSync(opts.dataDir, { recursive: true });
  const { key, pubFile } = await _demoKey(opts.dataDir);
  const modelsDir = join(opts.dataDir, 'demo-models');
  mkdirSync(modelsDir, { recursive: true });
  const models: string[] = [];
  const skipped: { dir: string; why: string }[] = [];
  const names = existsSync(opts.sourceDir) ? readdirSync(opts.sourceDir).sort() : [];
  for (const name of names) {
    const dir = join(opts.sourceDir, name);
    const cnn = opts.cnnModels?.includes(name) === true;
    if (!existsSync(join(dir, 'model.json')) || !(cnn || existsSync(join(dir, 'head.json')))) continue;
    const out = join(modelsDir, name);
    // What the bundle was built from: model.json pins backbone and head digests.
    const stamp = JSON.stringify({
      v: cnn ? 'cnn-1' : 1,
      kid: key.kid,
      model: readFileSync(join(dir, 'model.json'), 'utf8'),
      // A CNN's client part is its compiled plan: re-sign when the planner's output changes.
      ...(cnn ? { plan: _cnnPlanStamp(dir) } : {}),
    });
    const stampFile = join(out, 'source.stamp');
    if (
      existsSync(stampFile) &&
      readFileSync(stampFile, 'utf8') === stamp &&
      existsSync(join(out, 'server.json'))
    ) {
      models.push(name);
      continue;
    }
    try {
      const built = cnn
        ? await buildCnnModelBundle(dir, key, { modelId: name })
        : await buildSplitModelBundle(dir, key, { modelId: name });
      rmSync(out, { recursive: true, force: true });
      writeBundle(out, built);
      writeFileSync(stampFile, stamp);
      models.push(name);
      opts.log?.(`signed demo bundle ${name} (${built.bundle.client.payload.version})`);
    } catch (e) {
      rmSync(out, { recursive: true, force: true });
      skipped.push({ dir, why: (e as Error).message });
    }
  }
  // Bundles whose source is gone must not keep being served.
  for (const name of readdirSync(modelsDir)) {
    if (!models.includes(name)) rmSync(join(modelsDir, name), { recursive: true, force: true });
  }
  return { modelsDir, trustedKeyFile: pubFile, models, skipped };
}

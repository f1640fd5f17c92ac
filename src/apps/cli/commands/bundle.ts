import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePrivateKey, publicPart } from '../../../protocol/ed25519.ts';
import { verifyModelBundle } from '../../../protocol/model-bundle.ts';
import { buildSplitModelBundle, writeBundle } from '../../../server/engines/split-model-bundle.ts';
import { type CliCommand, failureLine } from '../command.ts';

const usage = `usage: blinddx bundle --model models/<name> --key <publisher.key.json> --out <dir> [options]

Turns a split model folder (blinddx train output: model.json, backbone.onnx, head.json) into a
signed bundle the service loads with its SEAL head engine (put <dir> under the service's models
directory and its publisher .pub.json in trustedKeyFiles):
  <dir>/client.json    signed client part: preset ckks-8192-coeff, the client half of the
                       rotation-free head plan (input scale, output coefficients, embedding bound,
                       outputs), activation, preprocessing, classes, backbone digest
  <dir>/server.json    signed server part: digests of head.json and plan.json
  <dir>/head.json, plan.json (vendor-only), backbone.onnx (for clients)
Make a publisher key with: blinddx sign --keygen --out <name>

options:
  --model <dir>            split model folder
  --key <file>             publisher private key (JWK, from blinddx sign --keygen)
  --out <dir>              bundle folder to write
  --model-id <id>          model id (default: the model's name)
  --version <v>            version (default 1.0.0+<head digest prefix>)
  --embedding-bound <x>    largest |embedding value| to support (default: measured on the
                           validation split, ×4, rounded up to a power of two)`;

/** `blinddx bundle`: a signed split-model bundle for the SEAL head engine. */
export const bundleCommand: CliCommand = {
  name: 'bundle',
  summary: 'sign a split model (backbone + private head) as a bundle the service serves',
  usage,
  options: {
    model: { type: 'string' },
    key: { type: 'string' },
    out: { type: 'string' },
    'model-id': { type: 'string' },
    version: { type: 'string' },
    'embedding-bound': { type: 'string' },
  },
  async run({ values }) {
    const model = values.model as string | undefined;
    const keyFile = values.key as string | undefined;
    const out = values.out as string | undefined;
    if (model === undefined || keyFile === undefined || out === undefined) {
      console.error(`blinddx bundle: --model, --key and --out are required\n\n${usage}`);
      return 2;
    }
    const bound = values['embedding-bound'] === undefined ? undefined : Number(values['embedding-bound']);
    if (bound !== undefined && !(bound > 0 && Number.isFinite(bound))) {
      console.error('blinddx bundle: --embedding-bound must be a positive number');
      return 2;
    }
    try {
      const key = await parsePrivateKey(JSON.parse(readFileSync(keyFile, 'utf8')), keyFile);
      const built = await buildSplitModelBundle(model, key, {
        ...(values['model-id'] === undefined ? {} : { modelId: values['model-id'] as string }),
        ...(values.version === undefined ? {} : { version: values.version as string }),
        ...(bound === undefined ? {} : { embeddingBound: bound }),
      });
      writeBundle(out, built);
      // Read back what was written and verify it as the service will.
      const files = new Map(
        [...built.serverFiles.keys()].map((n) => [n, new Uint8Array(readFileSync(join(out, n)))]),
      );
      const v = await verifyModelBundle(
        {
          client: JSON.parse(readFileSync(join(out, 'client.json'), 'utf8')),
          server: JSON.parse(readFileSync(join(out, 'server.json'), 'utf8')),
        },
        [publicPart(key)],
        files,
      );
      const plan = (v.client.inputLayout as { plan: { inputScaleBits: number; embeddingBound: number } })
        .plan;
      console.log(`wrote ${out}: model ${v.client.modelId} ${v.client.version}, signed by ${key.kid}`);
      console.log(`  model digest ${v.modelDigest}`);
      console.log(
        `  preset ${v.client.preset}, embedding bound ±${plan.embeddingBound}, input scale 2^${plan.inputScaleBits}`,
      );
      return 0;
    } catch (e) {
      console.error(failureLine('bundle', e));
      return 1;
    }
  },
};

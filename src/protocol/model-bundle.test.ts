import assert from 'node:assert/strict';
import { test } from 'node:test';
import { utf8 } from './bytes.ts';
import { generateSigningKey, publicPart } from './ed25519.ts';
import { digestFiles, signModelBundle, verifyClientBundle, verifyModelBundle } from './model-bundle.ts';

async function fixture(weights = [1, 2, 3]) {
  const key = await generateSigningKey();
  const files = new Map([
    ['weights.bin', new Uint8Array(weights)],
    ['plan.json', utf8('{"ops":[]}')],
  ]);
  const bundle = await signModelBundle(
    {
      client: {
        modelId: 'demo-head',
        version: '1.0.0',
        preset: 'ckks-8192',
        inputLayout: { kind: 'slots', length: 64 },
        preprocessing: {},
        classes: ['benign', 'malignant'],
        galoisSteps: [1, 2, 4],
        needsRelinKeys: false,
        files: {},
      },
      server: {
        modelId: 'demo-head',
        version: '1.0.0',
        preset: 'ckks-8192',
        files: await digestFiles(files),
      },
    },
    key,
  );
  return { key, trusted: [publicPart(key)], files, bundle };
}

const code = (c: string) => (e: any) => e.code === c;

test('a signed bundle verifies on both sides and yields one model digest', async () => {
  const { trusted, files, bundle } = await fixture();
  const server = await verifyModelBundle(bundle, trusted, files);
  const client = await verifyClientBundle(JSON.parse(JSON.stringify(bundle.client)), trusted);
  assert.equal(server.modelDigest, client.modelDigest);
  assert.match(server.modelDigest, /^sha256:[0-9a-f]{64}$/);
});

test('unsigned, mis-signed and foreign-key bundles are refused with MODEL_SIGNATURE_INVALID', async () => {
  const { trusted, bundle } = await fixture();
  const other = await generateSigningKey();
  await assert.rejects(
    verifyClientBundle({ payload: bundle.client.payload }, trusted),
    code('MODEL_SIGNATURE_INVALID'),
  );
  const tampered = { ...bundle.client, payload: { ...bundle.client.payload, classes: ['benign', 'benign'] } };
  await assert.rejects(verifyClientBundle(tampered, trusted), /does not verify/);
  await assert.rejects(verifyClientBundle(bundle.client, [publicPart(other)]), /untrusted key/);
  // A server part signed for the client purpose must not pass as a client part.
  await assert.rejects(
    verifyModelBundle({ client: bundle.server, server: bundle.server }, trusted),
    /does not verify/,
  );
});

test('mismatched parts or files are refused with MODEL_BUNDLE_MISMATCH', async () => {
  const a = await fixture();
  const files2 = new Map(a.files);
  files2.set('weights.bin', new Uint8Array([9]));
  await assert.rejects(verifyModelBundle(a.bundle, a.trusted, files2), /"weights.bin" does not match/);
  files2.delete('weights.bin');
  await assert.rejects(verifyModelBundle(a.bundle, a.trusted, files2), /"weights.bin" is missing/);
  const b = await fixture([4, 5, 6]);
  await assert.rejects(
    verifyModelBundle({ client: a.bundle.client, server: b.bundle.server }, [...a.trusted, ...b.trusted]),
    code('MODEL_BUNDLE_MISMATCH'),
  );
});

// The service refuses to start with a bundle it cannot prove is the publisher's.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateSigningKey, type PrivateKeyJwk } from '../../src/protocol/ed25519.ts';
import { configFromLiteral } from '../../src/server/config.ts';
import { startService } from '../../src/server/lifecycle.ts';
import { EchoEngine } from '../fixtures/echo-engine.ts';
import { makePublisherKey, makeTestModel, writeTestModel } from '../fixtures/model-bundles.ts';

async function attempt(mutate: (modelDir: string, dir: string, key: PrivateKeyJwk) => Promise<void> | void) {
  const dir = mkdtempSync(join(tmpdir(), 'bundle-load-'));
  try {
    const key = await makePublisherKey(join(dir, 'pub.json'));
    const modelDir = writeTestModel(join(dir, 'models'), await makeTestModel(key, 'm1'));
    await mutate(modelDir, dir, key);
    const config = configFromLiteral(
      {
        port: 0,
        host: '127.0.0.1',
        dataDir: join(dir, 'data'),
        modelsDir: join(dir, 'models'),
        trustedKeyFiles: [join(dir, 'pub.json')],
        logLevel: 'silent',
      },
      {},
    );
    const engine = new EchoEngine();
    const svc = await startService(config, { engine }).catch((e) => e);
    if (typeof svc?.close === 'function') {
      await svc.close();
      return { ok: true as const, engine };
    }
    return { ok: false as const, error: svc, engine };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const edit = (file: string, f: (j: any) => void) => {
  const j = JSON.parse(readFileSync(file, 'utf8'));
  f(j);
  writeFileSync(file, JSON.stringify(j));
};

test('a correctly signed bundle loads', async () => {
  const r = await attempt(() => {});
  assert.ok(r.ok);
  assert.ok(r.engine.loaded.has('m1'));
});

test('bad signature, unsigned, foreign key, tampered weights and mismatched parts are all refused at load', async () => {
  const cases: [string, (d: string, root: string, key: PrivateKeyJwk) => Promise<void> | void, string][] = [
    [
      'bad signature',
      (d) => edit(join(d, 'client.json'), (j) => (j.payload.classes = ['a', 'b'])),
      'MODEL_SIGNATURE_INVALID',
    ],
    ['unsigned', (d) => edit(join(d, 'server.json'), (j) => delete j.signature), 'MODEL_SIGNATURE_INVALID'],
    [
      'signed by an untrusted key',
      async (d) => {
        const other = await makeTestModel(await generateSigningKey(), 'm1');
        writeTestModel(join(d, '..'), other);
      },
      'MODEL_SIGNATURE_INVALID',
    ],
    [
      'tampered weights file',
      (d) => writeFileSync(join(d, 'weights.bin'), 'other weights'),
      'MODEL_BUNDLE_MISMATCH',
    ],
    ['missing plan file', (d) => rmSync(join(d, 'plan.json')), 'MODEL_BUNDLE_MISMATCH'],
    [
      'server part of another bundle by the same publisher',
      async (d, _root, key) => {
        // Both parts verify, but the server part is not the one the client part names.
        const other = await makeTestModel(key, 'm1', { galoisSteps: [4] });
        const { signDocument } = await import('../../src/protocol/signed-document.ts');
        const server = { ...other.bundle.server.payload, version: '1.0.0' };
        writeFileSync(
          join(d, 'server.json'),
          JSON.stringify(
            await signDocument(
              'server-manifest',
              { ...server, files: { 'weights.bin': server.files['weights.bin'] } },
              key,
            ),
          ),
        );
      },
      'MODEL_BUNDLE_MISMATCH',
    ],
  ];
  for (const [name, mutate, code] of cases) {
    const r = await attempt(mutate);
    assert.equal(r.ok, false, name);
    assert.equal(r.ok ? '' : r.error.code, code, `${name}: ${r.ok ? '' : r.error.message}`);
    assert.equal(r.engine.loaded.size, 0, `${name}: the engine never saw the model`);
  }
});

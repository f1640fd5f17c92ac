// Public client files over loopback: `GET /v1/models/:id/files/:name` serves only files the signed
// client manifest pins, whose bytes matched at load; the SDK's getModelFile checks the bytes against
// the verified bundle, whatever the server sends; a bundle whose client file differs from its
// signed digest is refused at load; `GET /v1/publisher-keys` lists the trusted publisher keys.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BlindDxClient } from '../../src/client/http-client.ts';
import { sha256Digest } from '../../src/protocol/digest.ts';
import { publicPart } from '../../src/protocol/ed25519.ts';
import { FILE_DIGEST_HEADER } from '../../src/protocol/schemas.ts';
import { type RunningService, startService } from '../../src/server/lifecycle.ts';
import { loadModelsDir } from '../../src/server/model-registry.ts';
import { EchoEngine } from '../fixtures/echo-engine.ts';
import {
  makePublisherKey,
  makeTestModel,
  type TestModel,
  writeTestModel,
} from '../fixtures/model-bundles.ts';
import { loopbackConfig } from '../fixtures/test-service.ts';

const backbone = new Uint8Array(4096).map((_, i) => (i * 31) & 0xff);
let dir: string;
let svc: RunningService;
let model: TestModel;
let publisher: Awaited<ReturnType<typeof makePublisherKey>>;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'blinddx-files-'));
  const modelsDir = join(dir, 'models');
  mkdirSync(modelsDir);
  publisher = await makePublisherKey(join(dir, 'publisher.pub.json'));
  model = await makeTestModel(publisher, 'with-backbone', {
    galoisSteps: [],
    clientFiles: new Map([
      ['backbone.onnx', backbone],
      ['labels.txt', new TextEncoder().encode('normal\npneumonia\n')],
    ]),
  });
  writeTestModel(modelsDir, model);
  // labels.txt is pinned by the manifest but not shipped in this bundle directory.
  rmSync(join(modelsDir, 'with-backbone', 'labels.txt'));
  const config = loopbackConfig(dir);
  svc = await startService(config, { engine: new EchoEngine() });
});

after(async () => {
  await svc?.close();
  rmSync(dir, { recursive: true, force: true });
});

const sdk = (fetchImpl?: typeof fetch) =>
  new BlindDxClient({
    baseUrl: svc.url,
    token: 'x'.repeat(32),
    trustedModelKeys: [publicPart(publisher)],
    retry: { maxAttempts: 1 },
    ...(fetchImpl === undefined ? {} : { fetch: fetchImpl }),
  });

test('a pinned client file is served with its digest; the SDK verifies it against the signed bundle', async () => {
  const res = await fetch(`${svc.url}/v1/models/with-backbone/files/backbone.onnx`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/octet-stream');
  const bytes = new Uint8Array(await res.arrayBuffer());
  assert.deepEqual(bytes, backbone);
  const pinned = model.bundle.client.payload.files['backbone.onnx'];
  assert.equal(res.headers.get(FILE_DIGEST_HEADER), pinned);
  assert.equal(await sha256Digest(bytes), pinned);
  assert.deepEqual(await sdk().getModelFile('with-backbone', 'backbone.onnx'), backbone);
});

test('unpinned, unpublished and malformed names are refused with stable codes', async () => {
  const get = async (path: string) => {
    const r = await fetch(`${svc.url}${path}`);
    return { status: r.status, code: ((await r.json()) as { error: { code: string } }).error.code };
  };
  assert.deepEqual(await get('/v1/models/with-backbone/files/labels.txt'), {
    status: 404,
    code: 'NOT_FOUND',
  });
  assert.deepEqual(await get('/v1/models/with-backbone/files/weights.bin'), {
    status: 404,
    code: 'NOT_FOUND',
  });
  assert.deepEqual(await get('/v1/models/nope/files/backbone.onnx'), { status: 404, code: 'NOT_FOUND' });
  assert.deepEqual(await get('/v1/models/with-backbone/files/..%2Fserver.json'), {
    status: 400,
    code: 'BAD_REQUEST',
  });
  const notPinned = await sdk()
    .getModelFile('with-backbone', 'weights.bin')
    .catch((e) => e);
  assert.equal(notPinned.code, 'MODEL_BUNDLE_MISMATCH');
});

test('the SDK refuses a file whose bytes differ from the signed digest, whatever the server says', async () => {
  const tampering = (async (url: string, init: RequestInit) => {
    const res = await fetch(url, init);
    if (!url.includes('/files/')) return res;
    const b = new Uint8Array(await res.arrayBuffer());
    b[100] ^= 1;
    return new Response(b, { status: 200, headers: res.headers });
  }) as typeof fetch;
  const e = await sdk(tampering)
    .getModelFile('with-backbone', 'backbone.onnx')
    .catch((x) => x);
  assert.equal(e.code, 'MODEL_BUNDLE_MISMATCH');
  assert.match(e.message, /does not match the signed digest/);
});

test('a bundle whose client file differs from its signed digest is refused at load', async () => {
  const bad = join(dir, 'bad-models');
  writeTestModel(bad, model);
  const changed = new Uint8Array(backbone);
  changed[0] ^= 0xff;
  writeFileSync(join(bad, 'with-backbone', 'backbone.onnx'), changed);
  const e = await loadModelsDir(bad, [publicPart(publisher)], new EchoEngine()).catch((x) => x);
  assert.equal(e.code, 'MODEL_BUNDLE_MISMATCH');
  assert.match(e.message, /client file "backbone.onnx"/);
});

test('GET /v1/publisher-keys lists the trusted publisher keys (public halves only)', async () => {
  const body = await (await fetch(`${svc.url}/v1/publisher-keys`)).json();
  assert.deepEqual(body, { keys: [publicPart(publisher)] });
  const doc = await (await fetch(`${svc.url}/v1/openapi.json`)).json();
  assert.ok(doc.paths['/v1/publisher-keys'].get);
  const files = doc.paths['/v1/models/{id}/files/{name}'].get;
  assert.ok(files.responses['200'].content['application/octet-stream']);
  assert.ok(files.responses['200'].headers[FILE_DIGEST_HEADER]);
});

// buildApp through app.inject(): logging hygiene, error shapes, auth. The loopback suite is test/server.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { EchoEngine } from '../../test/fixtures/echo-engine.ts';
import { makeTestModel } from '../../test/fixtures/model-bundles.ts';
import { generateSigningKey, publicPart } from '../protocol/ed25519.ts';
import { encodeParts } from '../protocol/parts-container.ts';
import { buildApp } from './app.ts';
import { configFromLiteral } from './config.ts';
import { loggerOptions } from './logging.ts';
import { loadBundle, modelRegistry } from './model-registry.ts';
import { openSqliteStore } from './store/sqlite-store.ts';

test('logs carry ids, sizes and outcomes — never tokens, keys or ciphertext bytes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'app-'));
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const store = openSqliteStore({ dataDir: dir, synchronous: 'NORMAL' });
  try {
    const publisher = await generateSigningKey();
    const engine = new EchoEngine();
    const m = await makeTestModel(publisher, 'echo-head');
    const model = await loadBundle(m.bundle, m.files, [publicPart(publisher)], engine);
    const config = configFromLiteral({ dataDir: dir, logLevel: 'info' }, {});
    const app = await buildApp(config, {
      store,
      engine,
      models: modelRegistry([model]),
      responseKey: await generateSigningKey(),
      logger: { ...(loggerOptions('info') as object), stream },
    });
    const { token } = await store.createOrg('acme', Date.now());
    const auth = { authorization: `Bearer ${token}` };
    const secretish = 'PK-SENTINEL-KEY-BYTES';
    const reg = await app.inject({
      method: 'POST',
      url: '/v1/clients',
      headers: { ...auth, 'content-type': 'application/vnd.blinddx.parts' },
      payload: Buffer.from(
        encodeParts([
          { name: 'meta', bytes: new TextEncoder().encode('{"modelId":"echo-head"}') },
          { name: 'publicKey', bytes: new TextEncoder().encode(secretish) },
          { name: 'galoisKeys', bytes: new TextEncoder().encode('GALOIS-SENTINEL') },
        ]),
      ),
    });
    assert.equal(reg.statusCode, 201, reg.body);
    const clientId = reg.json().clientId;
    const inf = await app.inject({
      method: 'POST',
      url: '/v1/infer/echo-head?trace=CT-SENTINEL-QUERY',
      headers: { ...auth, 'content-type': 'application/octet-stream', 'x-client-id': clientId },
      payload: Buffer.from('CT-SENTINEL-CIPHERTEXT'),
    });
    assert.equal(inf.statusCode, 200);
    const crash = await app.inject({
      method: 'POST',
      url: '/v1/infer/echo-head',
      headers: { ...auth, 'content-type': 'application/octet-stream', 'x-client-id': clientId },
      payload: Buffer.from('CRASH'),
    });
    assert.equal(crash.statusCode, 500);
    assert.doesNotMatch(crash.body, /secret\/path/, '5xx details are hidden from the caller');
    await app.close();
    const log = lines.join('');
    for (const s of [token, secretish, 'GALOIS-SENTINEL', 'CT-SENTINEL', 'x-client-id']) {
      assert.ok(!log.includes(s), `log must not contain ${s}`);
    }
    assert.match(log, /"msg":"inference completed"/);
    assert.match(log, new RegExp(`"clientId":"${clientId}"`));
    assert.match(log, /secret\/path/, 'the internal error is logged for operators');
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('errors: one JSON shape with a stable code and the request id; auth is required where documented', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'app-'));
  const store = openSqliteStore({ dataDir: dir, synchronous: 'NORMAL' });
  try {
    const app = await buildApp(configFromLiteral({ dataDir: dir }, {}), {
      store,
      engine: new EchoEngine(),
      models: modelRegistry([]),
      responseKey: await generateSigningKey(),
      logger: false,
    });
    const nf = await app.inject({ method: 'GET', url: '/v1/nothing' });
    assert.equal(nf.statusCode, 404);
    assert.equal(nf.json().error.code, 'NOT_FOUND');
    assert.equal(nf.json().error.requestId, nf.headers['x-request-id']);
    const noAuth = await app.inject({ method: 'DELETE', url: `/v1/clients/cl_${'0'.repeat(32)}` });
    assert.equal(noAuth.statusCode, 401);
    assert.equal(noAuth.json().error.code, 'UNAUTHORIZED');
    const badParam = await app.inject({ method: 'GET', url: '/v1/models/..%2Fetc' });
    assert.equal(badParam.json().error.code, 'BAD_REQUEST');
    const ready = await app.inject({ method: 'GET', url: '/v1/ready' });
    assert.deepEqual(ready.json(), { ready: true, models: 0, store: 'ok', queue: { active: 0, queued: 0 } });
    await app.close();
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

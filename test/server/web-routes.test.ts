// The web app's static routes through app.inject(): `/` and `/assets/:file` from `webDir`, with the
// Content-Security-Policy and cache headers; nothing outside assets/ is reachable; a missing build
// answers 503 NOT_READY with the command to run; without webDir there is no `/` at all.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { generateSigningKey } from '../../src/protocol/ed25519.ts';
import { buildApp } from '../../src/server/app.ts';
import { configFromLiteral } from '../../src/server/config.ts';
import { modelRegistry } from '../../src/server/model-registry.ts';
import { WEB_CSP } from '../../src/server/routes/web.ts';
import { openSqliteStore } from '../../src/server/store/sqlite-store.ts';
import type { Store } from '../../src/server/store/store.ts';
import { EchoEngine } from '../fixtures/echo-engine.ts';

let dir: string;
let store: Store;
const apps: FastifyInstance[] = [];

async function appWith(webDir: string | null): Promise<FastifyInstance> {
  const app = await buildApp(configFromLiteral({ dataDir: dir, webDir }, {}), {
    store,
    engine: new EchoEngine(),
    models: modelRegistry([]),
    responseKey: await generateSigningKey(),
    logger: false,
  });
  apps.push(app);
  return app;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'blinddx-web-routes-'));
  store = openSqliteStore({ dataDir: dir, synchronous: 'NORMAL' });
  const web = join(dir, 'web');
  mkdirSync(join(web, 'assets'), { recursive: true });
  writeFileSync(join(web, 'index.html'), '<!doctype html><title>BlindDx</title>');
  writeFileSync(join(web, 'assets', 'index-AbC123.js'), 'console.log(1)');
  writeFileSync(join(web, 'assets', 'seal_throws-XyZ.wasm'), new Uint8Array([0, 97, 115, 109]));
  writeFileSync(join(web, 'assets', 'notes.unknown'), 'x');
  writeFileSync(join(web, 'secret.txt'), 'outside assets');
});

after(async () => {
  for (const a of apps) await a.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('`/` and hashed assets are served with their types, CSP and cache policy', async () => {
  const app = await appWith(join(dir, 'web'));
  const index = await app.inject({ method: 'GET', url: '/' });
  assert.equal(index.statusCode, 200);
  assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(index.headers['content-security-policy'], WEB_CSP);
  assert.equal(index.headers['cache-control'], 'no-cache');
  assert.equal(index.headers['x-content-type-options'], 'nosniff');
  assert.match(index.body, /<title>BlindDx<\/title>/);
  assert.match(WEB_CSP, /connect-src 'self'/);
  assert.doesNotMatch(WEB_CSP, /unsafe-inline|'unsafe-eval'/);

  const js = await app.inject({ method: 'GET', url: '/assets/index-AbC123.js' });
  assert.equal(js.statusCode, 200);
  assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(js.headers['content-security-policy'], WEB_CSP, 'workers take their CSP from their script');
  const wasm = await app.inject({ method: 'GET', url: '/assets/seal_throws-XyZ.wasm' });
  assert.equal(wasm.headers['content-type'], 'application/wasm');
  assert.deepEqual([...wasm.rawPayload], [0, 97, 115, 109]);
  const head = await app.inject({ method: 'HEAD', url: '/assets/index-AbC123.js' });
  assert.equal(head.statusCode, 200);
});

test('nothing outside assets/ is reachable, and unknown files are 404', async () => {
  const app = await appWith(join(dir, 'web'));
  for (const url of ['/assets/..%2Fsecret.txt', '/assets/%2e%2e%2fsecret.txt', '/assets/.hidden']) {
    const r = await app.inject({ method: 'GET', url });
    assert.equal(r.statusCode, 400, url);
    assert.equal(r.json().error.code, 'BAD_REQUEST');
  }
  for (const url of ['/secret.txt', '/assets/missing.js', '/assets/notes.unknown', '/assets/']) {
    const r = await app.inject({ method: 'GET', url });
    assert.ok(r.statusCode === 404 || r.statusCode === 400, `${url}: ${r.statusCode}`);
    assert.doesNotMatch(r.body, /outside assets/);
  }
  // The API keeps answering JSON errors.
  assert.equal((await app.inject({ method: 'GET', url: '/v1/nothing' })).json().error.code, 'NOT_FOUND');
});

test('a missing build answers 503 NOT_READY with the command; no webDir means no page', async () => {
  const unbuilt = await appWith(join(dir, 'not-built'));
  const r = await unbuilt.inject({ method: 'GET', url: '/' });
  assert.equal(r.statusCode, 503);
  assert.equal(r.json().error.code, 'NOT_READY');
  assert.match(r.json().error.message, /npm run build:web/);
  const none = await appWith(null);
  assert.equal((await none.inject({ method: 'GET', url: '/' })).statusCode, 404);
});

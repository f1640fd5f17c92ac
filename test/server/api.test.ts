// The service over real HTTP on loopback, with the test-only echo engine and signed test models.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BlindDxClient } from '../../src/client/http-client.ts';
import { publicPart } from '../../src/protocol/ed25519.ts';
import { encodeParts } from '../../src/protocol/parts-container.ts';
import { echoResult } from '../fixtures/echo-engine.ts';
import { startTestService, type TestService } from '../fixtures/test-service.ts';

const te = new TextEncoder();
const material = { publicKey: te.encode('PK-public-key'), galoisKeys: te.encode('galois-keys') };

function sdk(svc: TestService, token = svc.tokens.a, retry = { maxAttempts: 1 }) {
  return new BlindDxClient({
    baseUrl: svc.url,
    token,
    trustedModelKeys: [publicPart(svc.publisherKey)],
    retry,
  });
}

async function post(
  svc: TestService,
  path: string,
  body: Uint8Array | string,
  headers: Record<string, string>,
) {
  const res = await fetch(`${svc.url}${path}`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  let json: any = null;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {}
  return { res, bytes, json };
}

function inferRaw(
  svc: TestService,
  token: string,
  clientId: string,
  body: Uint8Array,
  extra: Record<string, string> = {},
) {
  return post(svc, '/v1/infer/echo-head', body, {
    authorization: `Bearer ${token}`,
    'content-type': 'application/octet-stream',
    'x-client-id': clientId,
    ...extra,
  });
}

describe('inference service over loopback HTTP', () => {
  let svc: TestService;
  let clientId: string;
  before(async () => {
    svc = await startTestService({ compute: { timeoutMs: 300 } });
    clientId = (await sdk(svc).register('echo-head', material)).clientId;
  });
  after(() => svc.stop());

  test('register → infer (single and batch) → response signature and model digest verified by the SDK', async () => {
    const c = sdk(svc);
    const { modelDigest } = await c.getModel('echo-head');
    const one = await c.infer({ modelId: 'echo-head', clientId, inputs: [te.encode('ct-1')] });
    assert.deepEqual(one.results, [echoResult('echo-head', te.encode('ct-1'))]);
    assert.equal(one.statement.modelDigest, modelDigest);
    const batch = await c.infer({
      modelId: 'echo-head',
      clientId,
      inputs: [te.encode('a'), te.encode('bb'), te.encode('ccc')],
    });
    assert.deepEqual(
      batch.results,
      ['a', 'bb', 'ccc'].map((s) => echoResult('echo-head', te.encode(s))),
    );
    const entries = await svc.store.auditEntries();
    const mine = entries.filter((e) => e.subject === one.requestId).map((e) => e.action);
    assert.deepEqual(mine, ['infer.accepted', 'infer.completed']);
    assert.ok(!JSON.stringify(entries).includes('ct-1'), 'no ciphertext bytes in the audit log');
  });

  test('a tampered response fails signature verification in the SDK', async () => {
    const c = new BlindDxClient({
      baseUrl: svc.url,
      token: svc.tokens.a,
      trustedModelKeys: [publicPart(svc.publisherKey)],
      fetch: async (url, init) => {
        const res = await fetch(url, init);
        if (!String(url).includes('/v1/infer/')) return res;
        const body = new Uint8Array(await res.arrayBuffer());
        body[body.length - 1] ^= 1;
        return new Response(body, { status: res.status, headers: res.headers });
      },
    });
    await assert.rejects(
      c.infer({ modelId: 'echo-head', clientId, inputs: [te.encode('x')] }),
      (e: any) => e.code === 'RESPONSE_SIGNATURE_INVALID',
    );
  });

  test('health, readiness, models and the signed bundle', async () => {
    assert.deepEqual(await (await fetch(`${svc.url}/v1/health`)).json(), { status: 'ok', version: '0.1.0' });
    const ready = await fetch(`${svc.url}/v1/ready`);
    assert.equal(ready.status, 200);
    assert.equal((await ready.json()).models, 2);
    const list = await sdk(svc).listModels();
    assert.deepEqual(
      list.models.map((m) => m.modelId),
      ['echo-head', 'echo-relin'],
    );
    const missing = await fetch(`${svc.url}/v1/models/nope`);
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.code, 'NOT_FOUND');
  });

  test('cross-organisation use of a client id is refused with 403 FORBIDDEN_CLIENT', async () => {
    const r = await inferRaw(svc, svc.tokens.b, clientId, te.encode('x'));
    assert.equal(r.res.status, 403);
    assert.equal(r.json.error.code, 'FORBIDDEN_CLIENT');
    const del = await fetch(`${svc.url}/v1/clients/${clientId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${svc.tokens.b}` },
    });
    assert.equal(del.status, 403);
    assert.equal((await del.json()).error.code, 'FORBIDDEN_CLIENT');
    const anon = await inferRaw(svc, 'not-a-valid-token-at-all', clientId, te.encode('x'));
    assert.equal(anon.res.status, 401);
    assert.equal(anon.json.error.code, 'UNAUTHORIZED');
    const audit = await svc.store.auditEntries();
    assert.ok(audit.some((e) => e.action === 'infer.rejected' && e.data.code === 'FORBIDDEN_CLIENT'));
  });

  test('idempotency: same key and body → the same stored bytes; different body → 409', async () => {
    const key = { 'idempotency-key': 'retry-test-0001' };
    const first = await inferRaw(svc, svc.tokens.a, clientId, te.encode('same'), key);
    const calls = svc.engine.calls;
    const again = await inferRaw(svc, svc.tokens.a, clientId, te.encode('same'), key);
    assert.equal(again.res.status, 200);
    assert.deepEqual(again.bytes, first.bytes);
    assert.equal(again.res.headers.get('x-blinddx-signature'), first.res.headers.get('x-blinddx-signature'));
    assert.equal(again.res.headers.get('x-idempotent-replay'), 'true');
    assert.equal(svc.engine.calls, calls, 'no second computation');
    const other = await inferRaw(svc, svc.tokens.a, clientId, te.encode('different'), key);
    assert.equal(other.res.status, 409);
    assert.equal(other.json.error.code, 'IDEMPOTENCY_CONFLICT');
    // The same key while the first request still runs: 409 IDEMPOTENCY_IN_PROGRESS, retry later.
    let open!: () => void;
    svc.engine.gate = new Promise<void>((r) => (open = r));
    const k2 = { 'idempotency-key': 'in-progress-0001' };
    const running = inferRaw(svc, svc.tokens.a, clientId, te.encode('held'), k2);
    while (svc.engine.active === 0) await new Promise((r) => setTimeout(r, 5));
    const dup = await inferRaw(svc, svc.tokens.a, clientId, te.encode('held'), k2);
    assert.equal(dup.res.status, 409);
    assert.equal(dup.json.error.code, 'IDEMPOTENCY_IN_PROGRESS');
    assert.equal(dup.res.headers.get('retry-after'), '1');
    open();
    svc.engine.gate = null;
    assert.equal((await running).res.status, 200);
    // Another organisation's identical key is a different key.
    const c2 = (await sdk(svc, svc.tokens.b).register('echo-head', material)).clientId;
    assert.equal((await inferRaw(svc, svc.tokens.b, c2, te.encode('other org'), key)).res.status, 200);
  });

  test('hostile and broken inputs get stable 4xx codes, engine bugs a detail-free 500, and the service stays healthy', async () => {
    const bad = await inferRaw(svc, svc.tokens.a, clientId, te.encode('BAD ciphertext'));
    assert.equal(bad.res.status, 422);
    assert.equal(bad.json.error.code, 'BAD_CIPHERTEXT');
    const crash = await inferRaw(svc, svc.tokens.a, clientId, te.encode('CRASH'));
    assert.equal(crash.res.status, 500);
    assert.deepEqual(Object.keys(crash.json.error).sort(), ['code', 'message', 'requestId']);
    assert.equal(crash.json.error.message, 'internal error');
    const hang = await inferRaw(svc, svc.tokens.a, clientId, te.encode('HANG'));
    assert.equal(hang.res.status, 504);
    assert.equal(hang.json.error.code, 'TIMEOUT');
    const empty = await inferRaw(svc, svc.tokens.a, clientId, new Uint8Array());
    assert.equal(empty.json.error.code, 'BAD_CIPHERTEXT', 'an empty ciphertext is not a ciphertext');
    const badBatch = await post(svc, '/v1/infer/echo-head', te.encode('BDXP-garbage'), {
      authorization: `Bearer ${svc.tokens.a}`,
      'content-type': 'application/vnd.blinddx.parts',
      'x-client-id': clientId,
    });
    assert.equal(badBatch.json.error.code, 'BAD_REQUEST');
    const json = await post(svc, '/v1/infer/echo-head', '{"x":1}', {
      authorization: `Bearer ${svc.tokens.a}`,
      'content-type': 'application/json',
      'x-client-id': clientId,
    });
    assert.equal(json.res.status, 415);
    assert.equal(json.json.error.code, 'UNSUPPORTED_MEDIA_TYPE');
    const gz = await inferRaw(svc, svc.tokens.a, clientId, te.encode('x'), { 'content-encoding': 'gzip' });
    assert.equal(gz.res.status, 415);
    const badKey = await sdk(svc)
      .register('echo-head', { publicKey: te.encode('not a key'), galoisKeys: te.encode('g') })
      .catch((e) => e);
    assert.equal(badKey.code, 'BAD_KEY_MATERIAL');
    const noGalois = await sdk(svc)
      .register('echo-head', { publicKey: te.encode('PK') })
      .catch((e) => e);
    assert.equal(noGalois.code, 'BAD_KEY_MATERIAL');
    const ok = await sdk(svc).infer({ modelId: 'echo-head', clientId, inputs: [te.encode('after')] });
    assert.equal(ok.results.length, 1);
    const failed = (await svc.store.auditEntries())
      .filter((e) => e.action === 'infer.failed')
      .map((e) => e.data.code);
    assert.deepEqual(failed.slice(-3), ['BAD_CIPHERTEXT', 'INTERNAL', 'TIMEOUT']);
  });

  test('OpenAPI documents every route, and every documented route exists', async () => {
    const doc = await (await fetch(`${svc.url}/v1/openapi.json`)).json();
    const { listRoutes } = await import('../../src/server/app.ts');
    const routes = listRoutes(svc.app);
    assert.ok(routes.length >= 10);
    for (const r of routes) {
      const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      const op = doc.paths[path]?.[r.method.toLowerCase()];
      assert.ok(op, `${r.method} ${r.url} is documented`);
      assert.ok(
        op.summary && Object.keys(op.responses).some((s) => s.startsWith('2')),
        `${r.method} ${r.url} has a summary and a success response`,
      );
    }
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops as object).map((m) => `${m} ${p}`),
    );
    assert.equal(documented.length, routes.length);
    assert.match(JSON.stringify(doc.paths['/v1/infer/{modelId}'].post.responses['429']), /QUOTA_EXCEEDED/);
  });

  test('metrics expose request counts, latency histograms, queue depth and worker restarts', async () => {
    const text = await (await fetch(`${svc.url}/v1/metrics`)).text();
    assert.match(
      text,
      /blinddx_http_requests_total\{method="POST",route="\/v1\/infer\/:modelId",status="200"\} \d+/,
    );
    assert.match(text, /blinddx_http_request_duration_seconds_bucket\{route="\/v1\/health",le="0.005"\} \d+/);
    assert.match(text, /blinddx_queue_depth 0/);
    assert.match(text, /blinddx_worker_restarts_total 0/);
    assert.match(text, /blinddx_infer_total\{model="echo-head",outcome="BAD_CIPHERTEXT"\} 1/);
  });

  test('a deleted client is gone', async () => {
    const c = sdk(svc);
    const { clientId: id } = await c.register('echo-head', {
      publicKey: te.encode('PK-2'),
      galoisKeys: te.encode('g'),
    });
    await c.deleteClient(id);
    const r = await inferRaw(svc, svc.tokens.a, id, te.encode('x'));
    assert.equal(r.res.status, 404);
    assert.equal(r.json.error.code, 'NOT_FOUND');
  });
});

describe('limits', () => {
  test('quotas per key and per organisation → 429 QUOTA_EXCEEDED with Retry-After', async () => {
    const svc = await startTestService({ quotas: { perKey: 3, perOrg: 5, windowSeconds: 3600 } });
    try {
      const c1 = (await sdk(svc).register('echo-head', material)).clientId;
      for (let i = 0; i < 3; i++)
        assert.equal((await inferRaw(svc, svc.tokens.a, c1, te.encode(`q${i}`))).res.status, 200);
      const over = await inferRaw(svc, svc.tokens.a, c1, te.encode('q3'));
      assert.equal(over.res.status, 429);
      assert.equal(over.json.error.code, 'QUOTA_EXCEEDED');
      const ra = Number(over.res.headers.get('retry-after'));
      assert.ok(ra >= 1 && ra <= 3600, `Retry-After ${ra}`);
      // The same key under a new client id shares the key's quota (content-addressed material).
      const again = (await sdk(svc).register('echo-head', material)).clientId;
      assert.equal((await inferRaw(svc, svc.tokens.a, again, te.encode('q'))).res.status, 429);
      // A new key gets its own quota, up to the organisation's.
      const c2 = (await sdk(svc).register('echo-head', { ...material, publicKey: te.encode('PK-other') }))
        .clientId;
      const batch = await post(
        svc,
        '/v1/infer/echo-head',
        encodeParts([
          { name: '0', bytes: te.encode('a') },
          { name: '1', bytes: te.encode('b') },
        ]),
        {
          authorization: `Bearer ${svc.tokens.a}`,
          'content-type': 'application/vnd.blinddx.parts',
          'x-client-id': c2,
        },
      );
      assert.equal(batch.res.status, 200);
      const orgOver = await inferRaw(svc, svc.tokens.a, c2, te.encode('z'));
      assert.equal(orgOver.res.status, 429, 'organisation quota (5) reached: 3 + 2');
      assert.match(orgOver.json.error.message, /organisation/);
      // The SDK does not wait an hour: a long Retry-After comes back as the error.
      const e = await sdk(svc, svc.tokens.a, { maxAttempts: 3 } as any)
        .infer({ modelId: 'echo-head', clientId: c2, inputs: [te.encode('y')] })
        .catch((x) => x);
      assert.equal(e.code, 'QUOTA_EXCEEDED');
      assert.ok(e.retryAfterSeconds >= 1);
    } finally {
      await svc.stop();
    }
  });

  test('backpressure: beyond concurrency + queue → 503 QUEUE_FULL with Retry-After; admitted work completes', async () => {
    const svc = await startTestService({ compute: { concurrency: 1, maxQueued: 1 } });
    try {
      const id = (await sdk(svc).register('echo-head', material)).clientId;
      let open!: () => void;
      svc.engine.gate = new Promise<void>((r) => (open = r));
      let settled = 0;
      const rs = Array.from({ length: 6 }, (_, i) =>
        inferRaw(svc, svc.tokens.a, id, te.encode(`p${i}`)).finally(() => settled++),
      );
      // With the engine held, one request runs, one waits, and the other four are refused at once.
      while (settled < 4) await new Promise((r) => setTimeout(r, 5));
      assert.equal(svc.engine.active, 1);
      assert.equal(settled, 4);
      open();
      svc.engine.gate = null;
      const done = await Promise.all(rs);
      const statuses = done.map((r) => r.res.status).sort();
      assert.deepEqual(statuses, [200, 200, 503, 503, 503, 503]);
      for (const r of done.filter((x) => x.res.status === 503)) {
        assert.equal(r.json.error.code, 'QUEUE_FULL');
        assert.equal(r.res.headers.get('retry-after'), '1');
      }
      assert.equal(svc.engine.peakActive, 1);
      // The SDK retries 503 with backoff and gets through.
      svc.engine.delayMs = 50;
      const c = sdk(svc, svc.tokens.a, { maxAttempts: 6, baseDelayMs: 20 } as any);
      const out = await Promise.all(
        [0, 1, 2].map((i) => c.infer({ modelId: 'echo-head', clientId: id, inputs: [te.encode(`r${i}`)] })),
      );
      assert.ok(
        out.some((o) => o.attempts > 1),
        'at least one call needed a retry',
      );
    } finally {
      await svc.stop();
    }
  });

  test('oversize bodies → 413 PAYLOAD_TOO_LARGE, per route', async () => {
    const svc = await startTestService({ limits: { inferBodyBytes: 2048, registerBodyBytes: 4096 } });
    try {
      const id = (await sdk(svc).register('echo-head', material)).clientId;
      const big = await inferRaw(svc, svc.tokens.a, id, new Uint8Array(4096).fill(1));
      assert.equal(big.res.status, 413);
      assert.equal(big.json.error.code, 'PAYLOAD_TOO_LARGE');
      assert.equal((await inferRaw(svc, svc.tokens.a, id, new Uint8Array(2000).fill(1))).res.status, 200);
      const reg = await sdk(svc)
        .register('echo-head', { publicKey: new Uint8Array(5000), galoisKeys: te.encode('g') })
        .catch((e) => e);
      assert.equal(reg.code, 'PAYLOAD_TOO_LARGE');
      const json = await post(svc, '/v1/infer/echo-head', JSON.stringify({ pad: 'x'.repeat(70_000) }), {
        authorization: `Bearer ${svc.tokens.a}`,
        'content-type': 'application/json',
        'x-client-id': id,
      });
      assert.equal(json.res.status, 413);
    } finally {
      await svc.stop();
    }
  });

  test('graceful shutdown drains in-flight inference before closing engine and store', async () => {
    const svc = await startTestService();
    const id = (await sdk(svc).register('echo-head', material)).clientId;
    svc.engine.slowMs = 300;
    const inflight = inferRaw(svc, svc.tokens.a, id, te.encode('SLOW'));
    while (svc.engine.active === 0) await new Promise((r) => setTimeout(r, 5));
    const closing = svc.stop();
    const r = await inflight;
    assert.equal(r.res.status, 200, 'in-flight request finished');
    await closing;
    assert.ok(svc.engine.closed);
  });
});

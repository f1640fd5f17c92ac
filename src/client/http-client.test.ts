import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BlindDxClient, backoffDelay } from './http-client.ts';

const policy = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1000, maxRetryAfterMs: 30_000 };

test('backoff: exponential with equal jitter, capped; Retry-After wins', () => {
  assert.equal(
    backoffDelay(policy, 1, undefined, () => 0),
    50,
  );
  assert.equal(
    backoffDelay(policy, 1, undefined, () => 1),
    100,
  );
  assert.equal(
    backoffDelay(policy, 3, undefined, () => 1),
    400,
  );
  assert.equal(
    backoffDelay(policy, 10, undefined, () => 1),
    1000,
  );
  assert.equal(
    backoffDelay(policy, 2, 3, () => 0.5),
    3000,
  );
});

/** A fake server: answers each call with the next scripted response (or throws a network error). */
function scripted(script: (Response | 'network')[]) {
  const calls: string[] = [];
  const waits: number[] = [];
  const fetch = (async (url: string, init: RequestInit) => {
    calls.push(`${init.method} ${new URL(url).pathname}`);
    const next = script.shift() ?? new Response('{}', { status: 200 });
    if (next === 'network') throw new TypeError('fetch failed');
    return next;
  }) as unknown as typeof globalThis.fetch;
  const client = new BlindDxClient({
    baseUrl: 'http://127.0.0.1:1',
    token: 'tok',
    trustedModelKeys: [],
    serverKeys: [],
    retry: policy,
    fetch,
    sleep: async (ms) => {
      waits.push(ms);
    },
    random: () => 1,
  });
  return { client, calls, waits };
}

const err = (status: number, code: string, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ error: { code, message: code } }), { status, headers });

test('transient failures are retried (503 with Retry-After, 429, network on idempotent calls)', async () => {
  const { client, calls, waits } = scripted([
    err(503, 'QUEUE_FULL', { 'retry-after': '2' }),
    'network',
    err(429, 'QUOTA_EXCEEDED', { 'retry-after': '1' }),
    new Response(JSON.stringify({ models: [] }), { status: 200 }),
  ]);
  assert.deepEqual(await client.listModels(), { models: [] });
  assert.equal(calls.length, 4);
  assert.deepEqual(waits, [2000, 200, 1000]);
});

test('client errors are never retried, and carry their stable code', async () => {
  for (const [status, code] of [
    [400, 'BAD_REQUEST'],
    [403, 'FORBIDDEN_CLIENT'],
    [409, 'IDEMPOTENCY_CONFLICT'],
    [422, 'BAD_CIPHERTEXT'],
    [500, 'INTERNAL'],
  ] as const) {
    const { client, calls } = scripted([err(status, code)]);
    await assert.rejects(client.deleteClient('cl_x'), (e: any) => e.code === code);
    assert.equal(calls.length, 1, code);
  }
});

test('gives up after maxAttempts, and does not wait for a Retry-After beyond its limit', async () => {
  const a = scripted([
    err(503, 'QUEUE_FULL'),
    err(503, 'QUEUE_FULL'),
    err(503, 'QUEUE_FULL'),
    err(503, 'QUEUE_FULL'),
  ]);
  await assert.rejects(a.client.listModels(), (e: any) => e.code === 'QUEUE_FULL');
  assert.equal(a.calls.length, 4);
  const b = scripted([err(429, 'QUOTA_EXCEEDED', { 'retry-after': '3600' })]);
  await assert.rejects(
    b.client.listModels(),
    (e: any) => e.code === 'QUOTA_EXCEEDED' && e.retryAfterSeconds === 3600,
  );
  assert.equal(b.calls.length, 1);
});

test('registration is not repeated after a network error (it would create a second client)', async () => {
  const { client, calls } = scripted(['network']);
  // getModel runs first; make it fail fast on an unknown model so only the POST matters.
  Object.defineProperty(client, 'getModel', { value: async () => ({}) });
  await assert.rejects(client.register('m', { publicKey: new Uint8Array([1]) }), /fetch failed/);
  assert.deepEqual(calls, ['POST /v1/clients']);
});

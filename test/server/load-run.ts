// Load run (not part of `npm test`): the service in its own process (test/fixtures/echo-server-main.ts,
// test-only echo engine, synchronous=FULL), N concurrent clients × M requests over loopback, each
// with an idempotency key. Reports throughput, p50/p99 latency and the service's RSS over time; then
// stops the service and checks every request id has exactly one accepted + completed audit pair
// and the chain verifies. It measures the service's own cost, not homomorphic compute.
//   node test/server/load-run.ts [clients=8] [requestsPerClient=200]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BlindDxClient } from '../../src/client/http-client.ts';
import { publicPart } from '../../src/protocol/ed25519.ts';
import { openSqliteStore } from '../../src/server/store/sqlite-store.ts';
import { makePublisherKey, makeTestModel, writeTestModel } from '../fixtures/model-bundles.ts';

const clients = Number(process.argv[2] ?? 8);
const perClient = Number(process.argv[3] ?? 200);
const dir = mkdtempSync(join(tmpdir(), 'load-run-'));
try {
  const key = await makePublisherKey(join(dir, 'pub.json'));
  writeTestModel(join(dir, 'models'), await makeTestModel(key, 'echo-head'));
  const child = spawn(process.execPath, [join(import.meta.dirname, '../fixtures/echo-server-main.ts')], {
    env: {
      ...process.env,
      BLINDDX_HOST: '127.0.0.1',
      BLINDDX_PORT: '0',
      BLINDDX_DATA_DIR: join(dir, 'data'),
      BLINDDX_MODELS_DIR: join(dir, 'models'),
      BLINDDX_TRUSTED_KEYS: join(dir, 'pub.json'),
      BLINDDX_LOG_LEVEL: 'warn',
      BLINDDX_QUEUE_MAX: '64',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const { url, token } = await new Promise<{ url: string; token: string }>((r) =>
    createInterface({ input: child.stdout! }).once('line', (l) => r(JSON.parse(l))),
  );
  const rss = () =>
    Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024);
  const sdk = new BlindDxClient({ baseUrl: url, token, trustedModelKeys: [publicPart(key)] });
  const { clientId } = await sdk.register('echo-head', {
    publicKey: new TextEncoder().encode('PK-load'),
    galoisKeys: new Uint8Array([1]),
  });
  const input = new Uint8Array(64 * 1024).fill(7); // a 64 KiB "ciphertext"
  await sdk.infer({ modelId: 'echo-head', clientId, inputs: [input] }); // warm-up
  const rssSamples = [rss()];
  const sampler = setInterval(() => rssSamples.push(rss()), 1000);
  const lat: number[] = [];
  const ids = new Set<string>();
  let errors = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; i < perClient; i++) {
        const s = performance.now();
        try {
          const r = await sdk.infer({
            modelId: 'echo-head',
            clientId,
            inputs: [input],
            idempotencyKey: `load-${c}-${i}`,
          });
          ids.add(r.requestId!);
        } catch {
          errors++;
        }
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  rssSamples.push(rss());
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  const store = openSqliteStore({ dataDir: join(dir, 'data') });
  const entries = await store.auditEntries();
  const verdict = await store.verifyAudit();
  await store.close();
  const actions = new Map<string, string[]>();
  for (const e of entries)
    if (ids.has(e.subject)) actions.set(e.subject, [...(actions.get(e.subject) ?? []), e.action]);
  const exact = [...ids].filter((id) => actions.get(id)?.join() === 'infer.accepted,infer.completed').length;
  lat.sort((a, b) => a - b);
  const q = (p: number) => Number(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(1));
  console.log(
    JSON.stringify({
      clients,
      perClient,
      requests: lat.length,
      errors,
      uniqueRequestIds: ids.size,
      exactlyOneOutcome: exact,
      auditChainOk: verdict.ok,
      throughputPerSec: Number((lat.length / secs).toFixed(1)),
      p50ms: q(0.5),
      p99ms: q(0.99),
      serviceRssMiB: { first: rssSamples[0], max: Math.max(...rssSamples), last: rssSamples.at(-1) },
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// Load run (not part of `npm test`): N clients × M requests over loopback against the real service
// with the test-only echo engine, so it measures the service's own cost (HTTP, SQLite with
// synchronous=FULL, idempotency, audit, signing) — not homomorphic compute.
//   node --expose-gc test/server/load-run.ts [clients=8] [requests=200]   (SYNC=NORMAL to compare)
import { BlindDxClient } from '../../src/client/http-client.ts';
import { publicPart } from '../../src/protocol/ed25519.ts';
import { startTestService } from '../fixtures/test-service.ts';

const clients = Number(process.argv[2] ?? 8);
const perClient = Number(process.argv[3] ?? 200);
const svc = await startTestService({
  storeSynchronous: (process.env.SYNC as 'FULL' | 'NORMAL') ?? 'FULL',
  compute: { concurrency: 2, maxQueued: 64 },
});
try {
  const sdk = new BlindDxClient({
    baseUrl: svc.url,
    token: svc.tokens.a,
    trustedModelKeys: [publicPart(svc.publisherKey)],
  });
  const { clientId } = await sdk.register('echo-head', {
    publicKey: new TextEncoder().encode('PK-load'),
    galoisKeys: new Uint8Array([1]),
  });
  const input = new Uint8Array(64 * 1024).fill(7); // a 64 KiB "ciphertext"
  await sdk.infer({ modelId: 'echo-head', clientId, inputs: [input] }); // warm-up
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const rss0 = process.memoryUsage().rss;
  const heap0 = process.memoryUsage().heapUsed;
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
  gc?.();
  const rss1 = process.memoryUsage().rss;
  const heap1 = process.memoryUsage().heapUsed;
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(1);
  const entries = await svc.store.auditEntries();
  const completed = entries.filter((e) => e.action === 'infer.completed' && ids.has(e.subject)).length;
  const verdict = await svc.store.verifyAudit();
  console.log(
    JSON.stringify({
      clients,
      perClient,
      requests: lat.length,
      errors,
      uniqueRequestIds: ids.size,
      auditCompletedForThem: completed,
      auditChainOk: verdict.ok,
      throughputPerSec: Number((lat.length / secs).toFixed(1)),
      p50ms: Number(q(0.5)),
      p99ms: Number(q(0.99)),
      rssMiB: { before: Math.round(rss0 / 2 ** 20), after: Math.round(rss1 / 2 ** 20) },
      heapUsedMiB: { before: Math.round(heap0 / 2 ** 20), after: Math.round(heap1 / 2 ** 20) },
    }),
  );
} finally {
  await svc.stop();
}

// kill -9 in the middle of a load run: after restart every acknowledged request has exactly one
// outcome in the audit log, every accepted request has exactly one terminal entry, nothing is left
// half-written, and the chain verifies.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { BlindDxClient } from '../../src/client/http-client.ts';
import { publicPart } from '../../src/protocol/ed25519.ts';
import { openSqliteStore, SQLITE_FILE } from '../../src/server/store/sqlite-store.ts';
import { makePublisherKey, makeTestModel, writeTestModel } from '../fixtures/model-bundles.ts';

const root = join(import.meta.dirname, '..', '..');

function start(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; url: string; token: string | null }> {
  const child = spawn(process.execPath, [join(root, 'test/fixtures/echo-server-main.ts')], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (line) => resolve({ child, ...JSON.parse(line) }));
    child.once('exit', (code) => reject(new Error(`service exited early (${code})`)));
  });
}

const exited = (c: ChildProcess) =>
  new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r)));

test('kill -9 mid-load: every acknowledged request is accounted for exactly once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'crash-'));
  try {
    const key = await makePublisherKey(join(dir, 'pub.json'));
    writeTestModel(join(dir, 'models'), await makeTestModel(key, 'echo-head'));
    const env = {
      BLINDDX_HOST: '127.0.0.1',
      BLINDDX_PORT: '0',
      BLINDDX_DATA_DIR: join(dir, 'data'),
      BLINDDX_MODELS_DIR: join(dir, 'models'),
      BLINDDX_TRUSTED_KEYS: join(dir, 'pub.json'),
      BLINDDX_LOG_LEVEL: 'silent',
      BLINDDX_COMPUTE_CONCURRENCY: '2',
      BLINDDX_QUEUE_MAX: '64',
      ECHO_DELAY_MS: '10',
    };
    const first = await start(env);
    const token = first.token!;
    assert.ok(token);
    const sdk = (url: string) =>
      new BlindDxClient({
        baseUrl: url,
        token,
        trustedModelKeys: [publicPart(key)],
        retry: { maxAttempts: 1 },
      });
    const { clientId } = await sdk(first.url).register('echo-head', {
      publicKey: new TextEncoder().encode('PK-crash'),
      galoisKeys: new Uint8Array([1]),
    });

    const acked = new Map<string, string>(); // idempotency key → request id
    const unacked: string[] = [];
    let stop = false;
    const c = sdk(first.url);
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const idem = `crash-w${w}-r${i}`;
        try {
          const r = await c.infer({
            modelId: 'echo-head',
            clientId,
            inputs: [new TextEncoder().encode(idem)],
            idempotencyKey: idem,
          });
          acked.set(idem, r.requestId!);
        } catch {
          unacked.push(idem);
          return;
        }
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    while (acked.size < 60) await new Promise((r) => setTimeout(r, 5));
    first.child.kill('SIGKILL');
    stop = true;
    await load;
    await exited(first.child);
    assert.ok(unacked.length > 0, 'some requests were in flight at the kill');

    const second = await start(env);
    // A retry of an unacknowledged request with its idempotency key completes now.
    const retried = await sdk(second.url).infer({
      modelId: 'echo-head',
      clientId,
      inputs: [new TextEncoder().encode(unacked[0])],
      idempotencyKey: unacked[0],
    });
    assert.equal(retried.results.length, 1);
    // And a retry of an acknowledged one replays the stored result.
    const [ackKey] = acked.keys();
    const replay = await sdk(second.url).infer({
      modelId: 'echo-head',
      clientId,
      inputs: [new TextEncoder().encode(ackKey)],
      idempotencyKey: ackKey,
    });
    assert.ok(replay.replay);
    second.child.kill('SIGTERM');
    await exited(second.child);

    const store = openSqliteStore({ dataDir: join(dir, 'data') });
    const entries = await store.auditEntries();
    const verdict = await store.verifyAudit();
    await store.close();
    assert.ok(verdict.ok, JSON.stringify(verdict));
    const bySubject = new Map<string, string[]>();
    for (const e of entries)
      if (e.action.startsWith('infer.') && e.action !== 'infer.rejected') {
        bySubject.set(e.subject, [...(bySubject.get(e.subject) ?? []), e.action]);
      }
    for (const [idem, requestId] of acked) {
      assert.deepEqual(
        bySubject.get(requestId),
        ['infer.accepted', 'infer.completed'],
        `acknowledged ${idem}`,
      );
    }
    let interrupted = 0;
    for (const [id, actions] of bySubject) {
      assert.equal(actions[0], 'infer.accepted', id);
      assert.equal(actions.length, 2, `${id} has exactly one outcome: ${actions}`);
      if (actions[1] === 'infer.interrupted') interrupted++;
    }
    assert.ok(interrupted >= 1, 'requests accepted but unfinished at the kill are recorded as interrupted');
    const db = new DatabaseSync(join(dir, 'data', SQLITE_FILE), { readOnly: true });
    const open = db.prepare("SELECT COUNT(*) AS n FROM requests WHERE status = 'accepted'").get() as {
      n: number;
    };
    const pending = db.prepare("SELECT COUNT(*) AS n FROM idempotency WHERE state = 'pending'").get() as {
      n: number;
    };
    db.close();
    assert.equal(open.n, 0, 'no request left half-done');
    assert.equal(pending.n, 0, 'no idempotency key left pending');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

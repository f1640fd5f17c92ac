import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { openSqliteStore, SQLITE_FILE } from './sqlite-store.ts';

const digest = `sha256:${'ab'.repeat(32)}` as const;
const quota = { windowSeconds: 60, perKey: 5, perOrg: 8 };
const T0 = 1_700_000_000_000;

function withStore(fn: (s: ReturnType<typeof openSqliteStore>, dir: string) => Promise<void>) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'store-'));
    const s = openSqliteStore({ dataDir: dir, synchronous: 'NORMAL' });
    try {
      await fn(s, dir);
    } finally {
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

async function setup(s: ReturnType<typeof openSqliteStore>) {
  const { org, token } = await s.createOrg('acme', T0);
  const c = await s.registerClient({
    orgId: org.id,
    modelId: 'm',
    material: { publicKey: new Uint8Array([1, 2]), galoisKeys: new Uint8Array([3]) },
    materialDigest: digest,
    now: T0,
    expiresAt: T0 + 10_000,
  });
  return { org, token, c };
}

const admit = (orgId: string, clientId: string, id: string, extra: object = {}) => ({
  requestId: id,
  orgId,
  clientId,
  modelId: 'm',
  materialDigest: digest,
  idempotency: null,
  units: 1,
  bytesIn: 10,
  now: T0,
  quota,
  ...extra,
});

test(
  'tokens are stored hashed; clients and material are bound to their organisation and expire',
  withStore(async (s, dir) => {
    const { org, token, c } = await setup(s);
    assert.deepEqual(await s.orgByToken(token), org);
    assert.equal(await s.orgByToken(`${token}x`), null);
    const raw = new DatabaseSync(join(dir, SQLITE_FILE));
    const hashes = raw.prepare('SELECT hash FROM tokens').all() as { hash: string }[];
    raw.close();
    assert.ok(hashes.every((h) => !h.hash.includes(token.slice(4))));
    assert.equal((await s.getClient(c.id, T0))?.orgId, org.id);
    assert.deepEqual([...(await s.getKeyMaterial(org.id, digest))!.publicKey], [1, 2]);
    assert.equal(await s.getKeyMaterial('org_other', digest), null);
    const other = await s.createOrg('other', T0);
    assert.equal(await s.deleteClient(c.id, other.org.id, T0), false);
    assert.equal(await s.getClient(c.id, T0 + 10_000), null, 'expired client is not live');
    const swept = await s.sweep(T0 + 10_000, 0);
    assert.equal(swept.clientsExpired, 1);
    assert.equal(await s.getKeyMaterial(org.id, digest), null, 'material goes with its last client');
  }),
);

test(
  'admission: quotas per key and per org with Retry-After; idempotency replay, conflict, in-progress',
  withStore(async (s) => {
    const { org, c } = await setup(s);
    for (let i = 0; i < 5; i++)
      assert.equal((await s.admitInference(admit(org.id, c.id, `r${i}`))).kind, 'accepted');
    const q = await s.admitInference(admit(org.id, c.id, 'r5', { now: T0 + 1000 }));
    assert.equal(q.kind, 'quota');
    assert.equal(q.kind === 'quota' && q.scope, 'key');
    assert.ok(q.kind === 'quota' && q.retryAfterSeconds >= 1 && q.retryAfterSeconds <= 60);
    // Next window: allowed again.
    assert.equal((await s.admitInference(admit(org.id, c.id, 'r6', { now: T0 + 61_000 }))).kind, 'accepted');

    const idem = { key: 'key-12345678', requestHash: 'h1', expiresAt: T0 + 1_000_000 };
    const t = T0 + 130_000;
    assert.equal(
      (await s.admitInference(admit(org.id, c.id, 'i1', { idempotency: idem, now: t }))).kind,
      'accepted',
    );
    assert.equal(
      (await s.admitInference(admit(org.id, c.id, 'i2', { idempotency: idem, now: t }))).kind,
      'in-progress',
    );
    const other = { ...idem, requestHash: 'h2' };
    assert.equal(
      (await s.admitInference(admit(org.id, c.id, 'i3', { idempotency: other, now: t }))).kind,
      'conflict',
    );
    const response = { status: 200, headers: { a: 'b' }, body: new Uint8Array([7, 8]) };
    await s.finishInference({
      requestId: 'i1',
      outcome: 'completed',
      code: null,
      now: t,
      bytesOut: 2,
      queueMs: 0,
      computeMs: 1,
      response,
    });
    const r = await s.admitInference(admit(org.id, c.id, 'i4', { idempotency: idem, now: t }));
    assert.equal(r.kind, 'replay');
    assert.deepEqual(r.kind === 'replay' && { ...r.response, body: [...r.response.body] }, {
      ...response,
      body: [7, 8],
    });
    // Retention: the stored replay expires, and the key can then start a fresh request.
    const swept = await s.sweep(idem.expiresAt, 0);
    assert.equal(swept.idempotencyExpired, 1);
    assert.ok(swept.requestsPruned >= 1);
    assert.equal(
      (await s.admitInference(admit(org.id, c.id, 'i5', { idempotency: idem, now: idem.expiresAt }))).kind,
      'accepted',
    );
    await assert.rejects(
      s.finishInference({
        requestId: 'i1',
        outcome: 'failed',
        code: 'INTERNAL',
        now: t,
        bytesOut: 0,
        queueMs: 0,
        computeMs: 0,
        response: null,
      }),
      /not open/,
    );
  }),
);

test(
  'recovery marks every leftover accepted request interrupted exactly once',
  withStore(async (s) => {
    const { org, c } = await setup(s);
    const idem = { key: 'key-abcdefgh', requestHash: 'h', expiresAt: T0 + 100_000 };
    await s.admitInference(admit(org.id, c.id, 'a1', { idempotency: idem }));
    await s.admitInference(admit(org.id, c.id, 'a2'));
    await s.finishInference({
      requestId: 'a2',
      outcome: 'completed',
      code: null,
      now: T0,
      bytesOut: 1,
      queueMs: 0,
      computeMs: 0,
      response: null,
    });
    assert.equal(await s.recoverInterrupted(T0 + 1), 1);
    assert.equal(await s.recoverInterrupted(T0 + 2), 0);
    const actions = (await s.auditEntries())
      .filter((e) => e.subject.startsWith('a'))
      .map((e) => `${e.subject}:${e.action}`);
    assert.deepEqual(actions, [
      'a1:infer.accepted',
      'a2:infer.accepted',
      'a2:infer.completed',
      'a1:infer.interrupted',
    ]);
    // The interrupted request's key is free again: the retry computes instead of waiting forever.
    assert.equal((await s.admitInference(admit(org.id, c.id, 'a3', { idempotency: idem }))).kind, 'accepted');
    assert.deepEqual(await s.verifyAudit(), {
      ok: true,
      entries: 7,
      headHash: (await s.auditEntries()).at(-1)!.hash,
    });
  }),
);

/** Opens the file behind the store's back, as an attacker with disk access would, and lifts the append-only triggers. */
function tamper(dir: string, sql: string) {
  const db = new DatabaseSync(join(dir, SQLITE_FILE));
  db.exec('DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;');
  db.exec(sql);
  db.close();
}

test(
  'audit chain detects an edited, a deleted, a reordered and a truncated entry',
  withStore(async (s, dir) => {
    const { org, c } = await setup(s);
    for (let i = 0; i < 4; i++) await s.admitInference(admit(org.id, c.id, `q${i}`));
    assert.equal((await s.verifyAudit()).ok, true);
    const raw = new DatabaseSync(join(dir, SQLITE_FILE));
    assert.throws(() => raw.exec("UPDATE audit SET actor = 'x' WHERE seq = 2"), /append-only/);
    assert.throws(() => raw.exec('DELETE FROM audit WHERE seq = 2'), /append-only/);
    raw.close();
    const snapshot = join(dir, 'snap.sqlite');
    new DatabaseSync(join(dir, SQLITE_FILE)).exec(`VACUUM INTO '${snapshot}'`);
    const cases: [string, RegExp][] = [
      [`UPDATE audit SET data = json_set(data, '$.units', 99) WHERE seq = 4`, /seq 4|entry edited/],
      ['DELETE FROM audit WHERE seq = 4', /deleted/],
      [
        // Swap the contents of entries 4 and 5 (keeping their sequence numbers in place).
        `UPDATE audit SET subject = CASE seq WHEN 4 THEN 'q2' ELSE 'q1' END WHERE seq IN (4, 5)`,
        /edited/,
      ],
      [
        // Swap whole rows, hashes included: the links break.
        `UPDATE audit SET seq = -seq WHERE seq IN (4, 5);
         UPDATE audit SET seq = CASE seq WHEN -4 THEN 5 ELSE 4 END WHERE seq IN (-4, -5)`,
        /link broken|edited/,
      ],
      ['DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)', /truncated/],
    ];
    for (const [sql, re] of cases) {
      await s.close();
      rmSync(join(dir, SQLITE_FILE), { force: true });
      rmSync(join(dir, `${SQLITE_FILE}-wal`), { force: true });
      rmSync(join(dir, `${SQLITE_FILE}-shm`), { force: true });
      new DatabaseSync(snapshot).exec(`VACUUM INTO '${join(dir, SQLITE_FILE)}'`);
      tamper(dir, sql);
      const reopened = openSqliteStore({ dataDir: dir });
      const v = await reopened.verifyAudit();
      await reopened.close();
      assert.equal(v.ok, false, sql);
      assert.match(v.ok ? '' : `seq ${v.seq}: ${v.reason}`, re, sql);
    }
  }),
);

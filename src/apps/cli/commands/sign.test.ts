import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { openSqliteStore, SQLITE_FILE } from '../../../server/store/sqlite-store.ts';
import { main } from '../main.ts';

/** Runs the CLI in-process and captures what it prints. */
async function cli(...argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => lines.push(a.join(' '));
  console.error = (...a: unknown[]) => lines.push(a.join(' '));
  try {
    return { code: await main(argv), out: lines.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test('sign --keygen, sign and verify a bundle; tampering is caught with its code', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-sign-'));
  try {
    const keyBase = join(dir, 'publisher');
    assert.equal((await cli('sign', '--keygen', '--out', keyBase)).code, 0);
    assert.equal(statSync(`${keyBase}.key.json`).mode & 0o777, 0o600);
    assert.equal((await cli('sign', '--keygen', '--out', keyBase)).code, 1, 'never overwrites a key');
    const b = join(dir, 'bundle');
    mkdirSync(b);
    writeFileSync(join(b, 'weights.bin'), 'w');
    writeFileSync(join(b, 'plan.json'), '{}');
    writeFileSync(
      join(b, 'bundle.json'),
      JSON.stringify({
        modelId: 'demo',
        version: '1',
        preset: 'p',
        inputLayout: {},
        preprocessing: {},
        classes: ['a', 'b'],
        galoisSteps: [1],
        needsRelinKeys: false,
        clientFiles: [],
        serverFiles: ['weights.bin', 'plan.json'],
      }),
    );
    const signed = await cli('sign', '--key', `${keyBase}.key.json`, b);
    assert.equal(signed.code, 0, signed.out);
    assert.match(signed.out, /model digest sha256:[0-9a-f]{64}/);
    const ok = await cli('verify', '--trusted', `${keyBase}.pub.json`, b);
    assert.equal(ok.code, 0, ok.out);
    assert.equal((await cli('verify', '--trusted', `${keyBase}.pub.json`, '--client-only', b)).code, 0);
    writeFileSync(join(b, 'weights.bin'), 'W');
    const bad = await cli('verify', '--trusted', `${keyBase}.pub.json`, b);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /MODEL_BUNDLE_MISMATCH: .*weights\.bin/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('audit verify reports ok, then the edited entry', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-audit-'));
  try {
    const store = openSqliteStore({ dataDir: dir });
    await store.createOrg('a', 1);
    await store.createOrg('b', 2);
    await store.close();
    const ok = await cli('audit', 'verify', '--data-dir', dir);
    assert.equal(ok.code, 0, ok.out);
    const head = /head ([0-9a-f]{64})/.exec(ok.out)![1];
    assert.equal((await cli('audit', 'verify', '--data-dir', dir, '--expect-head', head)).code, 0);
    assert.equal((await cli('audit', 'verify', '--data-dir', dir, '--expect-head', 'f'.repeat(64))).code, 1);
    const db = new DatabaseSync(join(dir, SQLITE_FILE));
    db.exec('DROP TRIGGER audit_no_update; UPDATE audit SET data = \'{"name":"evil"}\' WHERE seq = 1;');
    db.close();
    const bad = await cli('audit', 'verify', '--data-dir', dir);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /BROKEN at entry 1 .*edited/);
    const org = await cli('org', 'create', 'clinic', '--data-dir', join(dir, 'new'));
    assert.equal(org.code, 0);
    assert.match(org.out, /bdx_[A-Za-z0-9_-]{43}/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

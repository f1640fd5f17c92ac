import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { configFromLiteral, loadConfig } from './config.ts';

test('defaults, then file, then environment; result is frozen with resolved paths', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  try {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ port: 9000, compute: { concurrency: 3 }, dataDir: 'd' }));
    const c = loadConfig({ file, env: { BLINDDX_PORT: '9001', BLINDDX_DEV_ORG: 'false' } });
    assert.equal(c.port, 9001);
    assert.equal(c.compute.concurrency, 3);
    assert.equal(c.compute.maxQueued, 32);
    assert.equal(c.devOrg, false);
    assert.ok(c.dataDir.endsWith('/d'));
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.compute));
    // Round trip: a config fed back as a literal gives the same config.
    assert.deepEqual(configFromLiteral(JSON.parse(JSON.stringify(c)), {}), c);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every invalid value is reported at once, naming its source', () => {
  assert.throws(
    () =>
      configFromLiteral(
        { port: 'x', compute: { concurency: 2 }, logLevel: 'loud' },
        { BLINDDX_QUEUE_MAX: '-1' },
        'f.json',
      ),
    (e: any) =>
      e.code === 'CONFIG_INVALID' &&
      /port: expected an integer in 0\.\.65535, got "x" \(from f\.json\)/.test(e.message) &&
      /compute\.concurency: unknown setting/.test(e.message) &&
      /logLevel: expected one of fatal/.test(e.message) &&
      /compute\.maxQueued: .* \(from BLINDDX_QUEUE_MAX\)/.test(e.message),
  );
  assert.throws(() => loadConfig({ file: '/nonexistent.json', env: {} }), /cannot read config file/);
});

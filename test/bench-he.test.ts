// The bench is evidence in the closing note, so its machine-readable form is a contract: one JSON
// object on stdout, nothing else, with the documented shape.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const root = resolve(import.meta.dirname, '..');
const run = promisify(execFile);
const bench = (...args: string[]) =>
  run(process.execPath, [resolve(root, 'bench/main.ts'), ...args], { cwd: root, maxBuffer: 1 << 24 });

test('bench he --quick --json prints exactly one JSON object of the documented shape', async () => {
  const { stdout, stderr } = await bench('he', '--quick', '--json');
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'stdout holds the JSON object only');
  const out = JSON.parse(lines[0]) as Record<string, unknown>;
  assert.deepEqual(Object.keys(out).sort(), ['poolSpeedup', 'rows', 'sizes']);
  assert.match(stderr, /ckks-4096-d1/, 'progress went to stderr');

  const rows = out.rows as { preset: string; op: string; ms: number }[];
  for (const r of rows) {
    assert.deepEqual(Object.keys(r).sort(), ['ms', 'op', 'preset']);
    assert.equal(typeof r.preset, 'string');
    assert.equal(typeof r.op, 'string');
    assert.ok(Number.isFinite(r.ms) && r.ms >= 0, `${r.op}: ${r.ms}`);
  }
  const ops = new Set(rows.filter((r) => r.preset === 'ckks-4096-d1').map((r) => r.op));
  for (const op of [
    'context creation',
    'keygen secret+public',
    'keygen relin',
    'keygen galois (per key)',
    'encode',
    'encrypt public',
    'encrypt symmetric',
    'multiply plain',
    'multiply+relinearize',
    'rescale',
    'rotate',
    'decrypt',
  ])
    assert.ok(ops.has(op), `row "${op}"`);

  const sizes = out.sizes as { preset: string; what: string; bytes: number }[];
  for (const s of sizes) {
    assert.deepEqual(Object.keys(s).sort(), ['bytes', 'preset', 'what']);
    assert.ok(Number.isSafeInteger(s.bytes) && s.bytes > 0, `${s.what}: ${s.bytes}`);
  }
  const size = (what: string) => sizes.find((s) => s.preset === 'ckks-4096-d1' && s.what === what)?.bytes;
  for (const what of [
    'public key (seeded)',
    'relin keys (seeded)',
    'one galois key (seeded)',
    'ciphertext (full)',
    'ciphertext (seeded symmetric)',
  ])
    assert.ok(size(what), `size "${what}"`);
  // Seeding replaces one of the two polynomials by a seed: about half the bytes.
  assert.ok(size('ciphertext (seeded symmetric)')! < 0.6 * size('ciphertext (full)')!);

  assert.equal(typeof out.poolSpeedup, 'number');
  assert.ok(Number.isFinite(out.poolSpeedup) && (out.poolSpeedup as number) > 0);
});

test('bench dispatcher lists benches on --help and refuses unknown names', async () => {
  const { stdout } = await bench('--help');
  assert.match(stdout, /^ {2}he +HE primitives/m);
  await assert.rejects(bench('no-such-bench'), (e: { code: number; stderr: string }) => {
    assert.equal(e.code, 2);
    assert.match(e.stderr, /unknown bench "no-such-bench"/);
    return true;
  });
});

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { main } from '../main.ts';
import { evalCommand } from './eval.ts';

const root = resolve(import.meta.dirname, '..', '..', '..', '..');
const cnn = join(root, 'models', 'mnist-tenseal');

async function capture(f: () => Promise<number | undefined>) {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (s: string) => out.push(s);
  console.error = (s: string) => err.push(s);
  try {
    return { code: await f(), out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test('blinddx eval --help describes the CNN mode', async () => {
  const r = await capture(() => main(['eval', '--help']));
  assert.equal(r.code, 0);
  assert.match(r.out, /CNN \(model\.json in the blinddx-cnn format\)/);
  assert.match(r.out, /--mode <m>/);
});

test('blinddx eval on a CNN: bad options are refused with exit code 2', async () => {
  for (const values of [
    { model: cnn, dataset: 'nope' },
    { model: cnn, mode: 'fast' },
    { model: cnn, protect: 'maybe' },
    { model: cnn, limit: '0' },
  ]) {
    const r = await capture(() => evalCommand.run({ values, positionals: [] }));
    assert.equal(r.code, 2, JSON.stringify(values));
  }
});

test('blinddx eval on a CNN (real SEAL, 3 MNIST images, latency plan): JSON, Markdown and the table', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'blinddx-eval-'));
  try {
    const md = join(dir, 'r.md');
    const jsonOut = join(dir, 'r.json');
    const values = {
      model: cnn,
      limit: '3',
      mode: 'latency',
      protect: 'off',
      'latency-images': '1',
      md,
      'json-out': jsonOut,
    };
    const r = await capture(() => evalCommand.run({ values: { ...values, json: true }, positionals: [] }));
    assert.equal(r.code, 0, r.err);
    const row = JSON.parse(r.out);
    assert.equal(row.dataset, 'MNIST');
    assert.equal(row.n, 3);
    assert.equal(row.agreement, 1);
    assert.equal(row.encAcc, row.plainAcc);
    assert.ok(row.maxAbsLogitDelta < 5e-2);
    assert.equal(row.encrypted.mode, 'latency');
    assert.ok(existsSync(md));
    assert.match(readFileSync(md, 'utf8'), /\| MNIST \| mnist-tenseal \| 3 of 10,000 \(seed 1\) \|/);
    assert.equal(JSON.parse(readFileSync(jsonOut, 'utf8')).rows[0].n, 3);
    const t = await capture(() =>
      evalCommand.run({
        values: { model: cnn, limit: '2', mode: 'latency', protect: 'off', 'latency-images': '1' },
        positionals: [],
      }),
    );
    assert.equal(t.code, 0, t.err);
    assert.match(t.out, /mnist-tenseal on MNIST, official test split: 2 of 10000 \(seed 1\)/);
    assert.match(t.out, /encrypted +\d+\.\d\d% +100\.00%/);
    assert.match(t.out, /✗ encrypted test images: full split, or a seeded subset ≥ 1,000: 2 of 10,000/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

const root = resolve(import.meta.dirname, '..');

// CI runs a tiny subset only (latency plan, unprotected, N=8192: seconds); the committed docs/results.*
// come from the full command (`npm run results`: throughput mode, protected, full test splits).
test('results pipeline: 3 MNIST images write results.md, results.json (issue schema, floors) and the scale plots', () => {
  const out = mkdtempSync(join(tmpdir(), 'blinddx-results-'));
  try {
    const run = spawnSync(
      process.execPath,
      [
        'src/nn/cnn/results.node.ts',
        ...['--rows', 'mnist-tenseal,sweep', '--n', '3', '--latency-images', '1', '--mode', 'latency'],
        ...['--protect', 'off', '--sweep-sim', '10', '--sweep-enc', '1', '--sweep-bits', '26', '--out', out],
      ],
      { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' },
    );
    assert.equal(run.status, 0, run.stderr);
    const stderr = run.stderr;
    assert.match(stderr, /mnist-tenseal on 3 of 10000 MNIST/);
    const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    assert.equal(json.rows.length, 1);
    const row = json.rows[0];
    for (const k of ['dataset', 'n', 'plainAcc', 'encAcc', 'agreement', 'msPerImage', 'bytesUp', 'bytesDown'])
      assert.ok(k in row, k);
    assert.ok('galoisKeyBytes' in row);
    assert.equal(row.dataset, 'MNIST');
    assert.equal(row.n, 3);
    assert.equal(row.agreement, 1);
    assert.equal(row.encrypted.mode, 'latency');
    assert.equal(row.encrypted.protected, false);
    assert.ok(row.bytesUp > 0 && row.bytesDown > 0 && row.galoisKeyBytes > 0 && row.msPerImage > 0);
    // 3 images is below the ≥ 1,000 floor: the table must say so.
    assert.equal(
      row.floors.find((f: { floor: string }) => f.floor.startsWith('encrypted test images')).met,
      false,
    );
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    assert.match(md, /\| MNIST \| mnist-tenseal \| 3 of 10,000 \(seed 1\) \|/);
    assert.match(md, /npm run results/);
    // mnist-tenseal is a comparison net: its unmet floors show in the main table's ✓/✗ column.
    assert.match(
      md,
      /\| MNIST \| mnist-tenseal \| 3 of 10,000 \(seed 1\) \|[^\n]*\| ✗ \d\/5 \(comparison net\) \|/,
    );
    // --latency-only re-times the kept row and keeps its accuracy numbers.
    const again = spawnSync(
      process.execPath,
      [
        'src/nn/cnn/results.node.ts',
        '--rows',
        'mnist-tenseal',
        '--latency-only',
        '--latency-images',
        '1',
        '--protect',
        'off',
        '--out',
        out,
      ],
      { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' },
    );
    assert.equal(again.status, 0, again.stderr);
    const row2 = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).rows[0];
    assert.equal(row2.encAcc, row.encAcc);
    assert.equal(row2.latency.images, 1);
    assert.ok(row2.latency.measuredAt && row2.latency.loadAverage >= 0);
    assert.ok(existsSync(join(out, 'results-mnist-accuracy.svg')));
    assert.ok(existsSync(join(out, 'results-mnist-time.svg')));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

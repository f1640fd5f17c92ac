import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

const root = resolve(import.meta.dirname, '..');

// CI runs a tiny subset only; the committed docs/results.* come from the full command.
test('results pipeline: tiny MNIST subset writes results.md, results.json and the scale plots', () => {
  const out = mkdtempSync(join(tmpdir(), 'blinddx-results-'));
  try {
    execFileSync(
      process.execPath,
      [
        'src/nn/cnn/results.node.ts',
        ...['--n', '3', '--models', 'mnist-tenseal,sweep', '--sweep-sim', '10', '--sweep-enc', '1'],
        ...['--sweep-bits', '26', '--protect', 'off', '--out', out],
      ],
      { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    assert.equal(json.rows.length, 1);
    const row = json.rows[0];
    for (const k of [
      'dataset',
      'n',
      'plainAcc',
      'encAcc',
      'agreement',
      'msPerImage',
      'bytesUp',
      'bytesDown',
      'galoisKeyBytes',
    ])
      assert.ok(k in row, k);
    assert.equal(row.dataset, 'MNIST');
    assert.equal(row.n, 3);
    assert.equal(row.agreement, 1);
    assert.ok(row.bytesUp > 0 && row.bytesDown > 0 && row.galoisKeyBytes > 0);
    assert.match(
      readFileSync(join(out, 'results.md'), 'utf8'),
      /\| MNIST \| mnist-tenseal \| unprotected \| 3 of 10000/,
    );
    assert.ok(existsSync(join(out, 'results-mnist-accuracy.svg')));
    assert.ok(existsSync(join(out, 'results-mnist-time.svg')));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

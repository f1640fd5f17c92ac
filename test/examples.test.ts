// The README's code is examples/encrypted-vector.ts; this runs it as a user would (a child process
// on the project's Node 24) and checks what it prints against float64 twins.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const root = join(import.meta.dirname, '..');

test('examples/encrypted-vector.ts prints the float64 results (within 1e-5)', async () => {
  const node = join(root, 'node_modules', '.bin', 'node');
  const { stdout, stderr } = await promisify(execFile)(
    node,
    [join(root, 'examples', 'encrypted-vector.ts')],
    {
      cwd: root,
      timeout: 60_000,
    },
  );
  assert.equal(stderr, '');
  const line = (label: string) => {
    const m = stdout.match(new RegExp(`^${label}:\\s+(.+)$`, 'm'));
    assert.ok(m, `no "${label}" line in:\n${stdout}`);
    return m[1].trim().split(/\s+/).map(Number);
  };
  const x = [0.1, 0.2, 0.3, 0.4];
  const weights = [0.5, -1, 0.25, 2];
  const twins: [string, number[]][] = [
    ['weighted sum', [x.reduce((a, v, i) => a + v * weights[i], 0)]],
    ['sigmoid', x.map((v) => 0.5 + 0.197 * v - 0.004 * v ** 3)],
    ['matmul', [x[0] + x[1], x[2] - x[3]]],
  ];
  // CKKS at 2^40 is accurate to ~1e-7 here; the example prints 6 decimals, so 1e-5 covers both.
  for (const [label, twin] of twins) {
    const got = line(label);
    assert.equal(got.length, twin.length, label);
    for (const [i, g] of got.entries()) {
      assert.ok(Math.abs(g - twin[i]) <= 1e-5, `${label}[${i}]: ${g} vs ${twin[i]}`);
    }
  }
});

test('the README section "Encrypted vectors in 10 lines" shows exactly this file', () => {
  const example = readFileSync(join(root, 'examples', 'encrypted-vector.ts'), 'utf8');
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Encrypted vectors in 10 lines'));
  const block = section.match(/```ts\n([\s\S]*?)```/);
  assert.ok(block, 'README has no ts block in the section');
  assert.equal(block[1], example.slice(example.indexOf('import {')));
});

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

const root = resolve(import.meta.dirname, '..');

// The checker must actually fail on an upward import, or the layering it guards is unenforced.
test('layer check rejects an upward import and a stray node-seal import', () => {
  const dir = mkdtempSync(join(tmpdir(), 'layers-'));
  try {
    mkdirSync(join(dir, 'scripts'));
    cpSync(join(root, 'scripts/check-layers.ts'), join(dir, 'scripts/check-layers.ts'));
    mkdirSync(join(dir, 'src/he'), { recursive: true });
    mkdirSync(join(dir, 'src/server'), { recursive: true });
    writeFileSync(join(dir, 'src/server/app.ts'), 'export const x = 1;\n');
    writeFileSync(
      join(dir, 'src/he/bad.ts'),
      "import { x } from '../server/app.ts';\nimport SEAL from 'node-seal';\n",
    );
    writeFileSync(join(dir, 'src/server/seal.ts'), "import SEAL from 'node-seal';\n");
    let out = '';
    try {
      execFileSync(process.execPath, [join(dir, 'scripts/check-layers.ts')], { stdio: 'pipe' });
      assert.fail('layer check passed on a violating tree');
    } catch (e) {
      out = String((e as { stderr: Buffer }).stderr);
    }
    assert.match(out, /layer "he" must not import layer "server"/);
    assert.match(out, /src\/server\/seal\.ts: only the he layer may import node-seal/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { tilesCommand } from './tiles.ts';

const root = resolve(import.meta.dirname, '..', '..', '..', '..');

test('blinddx tiles --json: 1×2 encrypted patches of mnist-tenseal, aggregate = float64 twin', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'blinddx-tiles-'));
  try {
    const w = 60;
    const h = 30;
    const px = Buffer.alloc(w * h);
    for (let i = 0; i < px.length; i++) px[i] = (i * 37) % 256;
    const file = join(dir, 'wide.png');
    await sharp(px, { raw: { width: w, height: h, channels: 1 } })
      .png()
      .toFile(file);
    const lines: string[] = [];
    const log = console.log;
    console.log = (s: string) => lines.push(s);
    let code: number | undefined;
    try {
      code = await tilesCommand.run({
        values: { model: join(root, 'models', 'mnist-tenseal'), grid: '1x2', json: true },
        positionals: [file],
      });
    } finally {
      console.log = log;
    }
    assert.equal(code, 0);
    const out = JSON.parse(lines.join(''));
    assert.equal(out.grid, '1x2');
    assert.equal(out.mode, 'streamed');
    assert.equal(out.perPatch.length, 2);
    out.aggregate.forEach((v: number, k: number) => {
      assert.ok(Math.abs(v - out.plainAggregate[k]) < 5e-2, `class ${k}`);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

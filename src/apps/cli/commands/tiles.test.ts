import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

test('blinddx tiles --mode packed --json: 2×3 RGB patches in one window-packed request, aggregate = float64 twin', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'blinddx-tiles-packed-'));
  try {
    const wave = (n: number, k: number) => Array.from({ length: n }, (_, i) => Math.sin(i * k) * 0.3);
    const model = {
      format: 'blinddx-cnn',
      version: 1,
      name: 'tiny-colour',
      inputShape: [3, 8, 8],
      preprocessing: { scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
      layers: [
        {
          op: 'conv2d',
          inChannels: 3,
          outChannels: 2,
          kernel: [4, 4],
          stride: [4, 4],
          padding: [0, 0],
          weight: wave(96, 0.9),
          bias: [0.1, -0.1],
        },
        { op: 'poly', coeffs: [0, 0, 1] },
        { op: 'flatten' },
        { op: 'dense', inFeatures: 8, outFeatures: 3, weight: wave(24, 0.5), bias: [0, 0.2, -0.2] },
      ],
    };
    writeFileSync(join(dir, 'model.json'), JSON.stringify(model));
    const w = 24;
    const h = 16;
    const px = Buffer.alloc(w * h * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i * 53) % 256;
    const file = join(dir, 'rgb.png');
    await sharp(px, { raw: { width: w, height: h, channels: 3 } })
      .png()
      .toFile(file);
    const lines: string[] = [];
    const log = console.log;
    console.log = (s: string) => lines.push(s);
    let code: number | undefined;
    try {
      code = await tilesCommand.run({
        values: { model: dir, mode: 'packed', json: true },
        positionals: [file],
      });
    } finally {
      console.log = log;
    }
    assert.equal(code, 0);
    const out = JSON.parse(lines.join(''));
    assert.equal(out.grid, '2x3');
    assert.equal(out.mode, 'packed');
    assert.equal(out.perPatch.length, 6);
    out.aggregate.forEach((v: number, k: number) => {
      assert.ok(Math.abs(v - out.plainAggregate[k]) < 5e-3, `class ${k}: ${v} vs ${out.plainAggregate[k]}`);
    });
    // A bad mode is refused with the usage.
    const err = console.error;
    console.error = () => {};
    try {
      assert.equal(await tilesCommand.run({ values: { model: dir, mode: 'fast' }, positionals: [file] }), 2);
    } finally {
      console.error = err;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { dicomFile } from '../../../../test/fixtures/dicom.ts';
import { generateSigningKey, publicPart } from '../../../protocol/ed25519.ts';
import { main } from '../main.ts';

const root = resolve(import.meta.dirname, '..', '..', '..', '..');

async function run(argv: string[]): Promise<{ code: number; err: string }> {
  const err: string[] = [];
  const error = console.error;
  const write = process.stderr.write;
  console.error = (...a: unknown[]) => err.push(a.join(' '));
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return { code: await main(argv), err: err.join('\n') };
  } finally {
    console.error = error;
    process.stderr.write = write;
  }
}

// A bad image ends the command with exit 1 and one line naming the image catalog's code, before
// any request (the server URL here has nothing listening) — not with a stack trace.
test('blinddx diagnose / tiles: a bad image prints `blinddx <cmd>: <CODE>: …` and exits 1', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'blinddx-bad-image-'));
  const passphrase = process.env.BLINDDX_PASSPHRASE;
  try {
    const garbage = join(dir, 'garbage.png');
    writeFileSync(garbage, 'not an image');
    const rgb = join(dir, 'rgb.dcm');
    writeFileSync(
      rgb,
      dicomFile({ rows: 1, cols: 1, bits: 8, pixels: [1, 2, 3], photometric: 'RGB', samples: 3 }),
    );
    const tall = join(dir, 'tall.dcm');
    writeFileSync(tall, dicomFile({ rows: 20000, cols: 1, bits: 8, pixels: [0] }));
    const trust = join(dir, 'publisher.pub.json');
    writeFileSync(trust, JSON.stringify(publicPart(await generateSigningKey())));
    process.env.BLINDDX_PASSPHRASE = 'correct horse battery staple, bad image test';
    const server = ['--server', 'http://127.0.0.1:9', '--token', 't', '--trust', trust];
    const model = ['--model', join(root, 'models', 'mnist-tenseal')];
    const cases: [string[], RegExp][] = [
      [
        ['diagnose', garbage, ...server],
        /^blinddx diagnose: BAD_IMAGE: read image garbage\.png: cannot decode/,
      ],
      [['diagnose', tall, ...server], /^blinddx diagnose: IMAGE_TOO_LARGE: read tall\.dcm: .*exceeds 16384/],
      [['tiles', rgb, ...model], /^blinddx tiles: UNSUPPORTED_IMAGE: read rgb\.dcm: .*only monochrome/],
      [['tiles', garbage, ...model, ...server], /^blinddx tiles: BAD_IMAGE: read image garbage\.png/],
    ];
    for (const [argv, line] of cases) {
      const r = await run(argv);
      assert.equal(r.code, 1, argv.join(' '));
      assert.match(r.err, line, argv.join(' '));
    }
  } finally {
    if (passphrase === undefined) delete process.env.BLINDDX_PASSPHRASE;
    else process.env.BLINDDX_PASSPHRASE = passphrase;
    rmSync(dir, { recursive: true, force: true });
  }
});

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { dicomFile as dicom } from '../../../test/fixtures/dicom.ts';
import { decodeDicom, isDatasetEntry, readImageInput } from './image-input.node.ts';

test('DICOM: 8-bit and 16-bit monochrome decode to 8-bit gray (range stretch, window, MONOCHROME1)', () => {
  const a = decodeDicom(dicom({ rows: 2, cols: 2, bits: 8, pixels: [0, 85, 170, 255] }));
  assert.deepEqual([...a.data], [0, 85, 170, 255]);
  assert.equal(a.width, 2);
  assert.equal(a.channels, 1);
  const b = decodeDicom(dicom({ rows: 1, cols: 3, bits: 16, pixels: [1000, 2000, 3000] }));
  assert.deepEqual([...b.data], [0, 128, 255]);
  const c = decodeDicom(dicom({ rows: 1, cols: 2, bits: 16, pixels: [0, 4095], photometric: 'MONOCHROME1' }));
  assert.deepEqual([...c.data], [255, 0]);
  const w = decodeDicom(dicom({ rows: 1, cols: 3, bits: 16, pixels: [0, 500, 4000], window: [500, 401] }));
  assert.deepEqual([...w.data], [0, 128, 255]);
});

test('DICOM: colour, unsupported depth and garbage are refused with a reason', () => {
  assert.throws(
    () =>
      decodeDicom(dicom({ rows: 1, cols: 1, bits: 8, pixels: [0, 0, 0], photometric: 'RGB', samples: 3 })),
    /only monochrome/,
  );
  assert.throws(() => decodeDicom(new Uint8Array(300)), /DICOM/);
});

test('readImageInput: dataset entries, DICOM files by preamble, other files through sharp', async () => {
  assert.equal(isDatasetEntry('pneumoniamnist:test:12'), true);
  assert.equal(isDatasetEntry('cifar:test:1'), false);
  assert.equal(isDatasetEntry('scan.png'), false);
  const entry = await readImageInput('breastmnist:test:3');
  assert.equal(entry.kind, 'dataset');
  assert.equal(entry.image.width, 28);
  assert.ok(typeof entry.truth === 'string');
  const dir = mkdtempSync(join(tmpdir(), 'blinddx-img-'));
  try {
    const f = join(dir, 'scan.bin');
    writeFileSync(f, dicom({ rows: 2, cols: 2, bits: 8, pixels: [0, 85, 170, 255] }));
    const d = await readImageInput(f);
    assert.equal(d.kind, 'dicom');
    assert.deepEqual([...d.image.data], [0, 85, 170, 255]);
    writeFileSync(join(dir, 'bad.png'), 'not an image');
    await assert.rejects(readImageInput(join(dir, 'bad.png')), /cannot decode/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

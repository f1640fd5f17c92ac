import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { dicomFile as dicom } from '../../../test/fixtures/dicom.ts';
import { ImageError, type ImageErrorCode, MAX_IMAGE_FILE_BYTES } from '../image-errors.ts';
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

/** A PNG declaring `w`×`h` (colour type 0 gray, 2 RGB) whose IDAT holds one byte, not the image. */
function pngHeader(w: number, h: number, colourType: 0 | 2): Uint8Array {
  const chunk = (type: string, data: Uint8Array) => {
    const c = new Uint8Array(12 + data.length);
    const v = new DataView(c.buffer);
    v.setUint32(0, data.length);
    c.set(new TextEncoder().encode(type), 4);
    c.set(data, 8);
    v.setUint32(8 + data.length, crc32(c.subarray(4, 8 + data.length)));
    return c;
  };
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, w);
  new DataView(ihdr.buffer).setUint32(4, h);
  ihdr[8] = 8;
  ihdr[9] = colourType;
  return Buffer.concat([
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(new Uint8Array(1))),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

async function rejectsWith(spec: string, code: ImageErrorCode, why: RegExp): Promise<void> {
  await assert.rejects(readImageInput(spec), (e: unknown) => {
    assert.ok(e instanceof ImageError, `${spec}: an ImageError, got ${String(e)}`);
    assert.equal(e.code, code, spec);
    assert.match(e.message, why, spec);
    return true;
  });
}

test('readImageInput: bad files are refused with stable codes, large ones before decoding', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'blinddx-img-'));
  try {
    const f = (name: string, bytes: Uint8Array | string) => {
      writeFileSync(join(dir, name), bytes);
      return join(dir, name);
    };
    await rejectsWith(f('bad.png', 'not an image'), 'BAD_IMAGE', /^read image bad\.png: cannot decode/);
    const png = await sharp(Buffer.from([0, 60, 120, 180, 240, 255]), {
      raw: { width: 3, height: 2, channels: 1 },
    })
      .png()
      .toBuffer();
    await rejectsWith(f('cut.png', png.subarray(0, png.length - 20)), 'BAD_IMAGE', /cannot decode/);
    // Headers alone (no pixel data at all): refused on the declared size, so nothing was decoded.
    await rejectsWith(
      f('wide.png', pngHeader(20000, 10, 0)),
      'IMAGE_TOO_LARGE',
      /exceeds 16384 pixels per side/,
    );
    await rejectsWith(
      f('big.png', pngHeader(12000, 12000, 2)),
      'IMAGE_TOO_LARGE',
      /samples exceeds the limit/,
    );
    await rejectsWith(
      f('empty.dcm', new Uint8Array(0)),
      'BAD_IMAGE',
      /read empty\.dcm: not a readable DICOM/,
    );
    await rejectsWith(
      f('rgb.dcm', dicom({ rows: 1, cols: 1, bits: 8, pixels: [0, 0, 0], photometric: 'RGB', samples: 3 })),
      'UNSUPPORTED_IMAGE',
      /only monochrome/,
    );
    // A sparse file above the size limit: refused from its size, without reading it.
    const huge = join(dir, 'huge.dcm');
    closeSync(openSync(huge, 'w'));
    truncateSync(huge, MAX_IMAGE_FILE_BYTES + 1);
    await rejectsWith(huge, 'IMAGE_TOO_LARGE', /the file is 1073741825 bytes/);
    await rejectsWith('breastmnist:test:100000', 'BAD_IMAGE', /has 156 images, index 100000 is out of range/);
    // A valid PNG still gives what the path did before the checks: sharp's raw output as it is.
    const ok = await readImageInput(f('ok.png', png));
    const want = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    assert.equal(ok.kind, 'image');
    assert.deepEqual(
      [ok.image.width, ok.image.height, ok.image.channels],
      [want.info.width, want.info.height, want.info.channels],
    );
    assert.deepEqual([...ok.image.data], [...want.data]);
    assert.deepEqual(
      [...ok.image.data].filter((_, i) => i % ok.image.channels === 0),
      [0, 60, 120, 180, 240, 255],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeDicom, isDatasetEntry, readImageInput } from './image-input.node.ts';

/** A minimal DICOM Part 10 file, explicit VR little endian, one monochrome frame. */
function dicom(opts: {
  rows: number;
  cols: number;
  bits: 8 | 16;
  pixels: number[];
  photometric?: string;
  samples?: number;
  window?: [number, number];
}): Uint8Array {
  const chunks: Uint8Array[] = [];
  const el = (group: number, elem: number, vr: string, value: Uint8Array) => {
    const long = ['OB', 'OW', 'UN', 'SQ', 'UT'].includes(vr);
    const h = new Uint8Array(long ? 12 : 8);
    const v = new DataView(h.buffer);
    v.setUint16(0, group, true);
    v.setUint16(2, elem, true);
    h[4] = vr.charCodeAt(0);
    h[5] = vr.charCodeAt(1);
    if (long) v.setUint32(8, value.length, true);
    else v.setUint16(6, value.length, true);
    chunks.push(h, value);
  };
  const str = (s: string) => {
    const b = new TextEncoder().encode(s.length % 2 ? `${s} ` : s);
    return b;
  };
  const us = (n: number) => new Uint8Array(new Uint16Array([n]).buffer);
  const ts = str('1.2.840.10008.1.2.1\0');
  el(0x0002, 0x0000, 'UL', new Uint8Array(new Uint32Array([8 + ts.length]).buffer));
  el(0x0002, 0x0010, 'UI', ts);
  el(0x0028, 0x0002, 'US', us(opts.samples ?? 1));
  el(0x0028, 0x0004, 'CS', str(opts.photometric ?? 'MONOCHROME2'));
  el(0x0028, 0x0010, 'US', us(opts.rows));
  el(0x0028, 0x0011, 'US', us(opts.cols));
  el(0x0028, 0x0100, 'US', us(opts.bits));
  el(0x0028, 0x0103, 'US', us(0));
  if (opts.window) {
    el(0x0028, 0x1050, 'DS', str(String(opts.window[0])));
    el(0x0028, 0x1051, 'DS', str(String(opts.window[1])));
  }
  const px =
    opts.bits === 8 ? Uint8Array.from(opts.pixels) : new Uint8Array(Uint16Array.from(opts.pixels).buffer);
  el(0x7fe0, 0x0010, opts.bits === 8 ? 'OB' : 'OW', px);
  const body = chunks.reduce((n, c) => n + c.length, 0);
  const out = new Uint8Array(132 + body);
  out.set(new TextEncoder().encode('DICM'), 128);
  let o = 132;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

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

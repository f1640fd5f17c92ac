import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dicomFile as dicom } from '../../test/fixtures/dicom.ts';
import { legacyDecodeDicom } from '../../test/fixtures/dicom-legacy-decoder.ts';
import { loadMedMnist } from '../nn/data/medmnist.node.ts';
import { decodeDicom } from './dicom.ts';
import { ImageError, type ImageErrorCode, MAX_IMAGE_SIDE } from './image-errors.ts';

// Pixel bytes that would be recognisable in a message (they must never be quoted).
const MARK = 'PIXELBYTES-PIXELBYTES-PIXELBYTES';
const marked = new TextEncoder().encode(MARK);

function refused(what: string, bytes: Uint8Array, code: ImageErrorCode, why: RegExp): void {
  assert.throws(
    () => decodeDicom(bytes, 'scan.dcm'),
    (e: unknown) => {
      assert.ok(e instanceof ImageError, `${what}: an ImageError, got ${String(e)}`);
      assert.equal(e.code, code, `${what}: code`);
      assert.match(e.message, /^read scan\.dcm: /, `${what}: names the file`);
      assert.match(e.message, why, `${what}: reason`);
      assert.ok(!e.message.includes('PIXELBYTES'), `${what}: no pixel bytes in the message`);
      return true;
    },
    what,
  );
}

test('DICOM bad input: each class is refused with its stable code and a reason', () => {
  const ok = dicom({ rows: 4, cols: 4, bits: 8, pixelBytes: marked.subarray(0, 16) });
  assert.equal(decodeDicom(ok).data.length, 16); // the base file is valid
  refused('garbage (no DICM magic)', new Uint8Array(300), 'BAD_IMAGE', /not a readable DICOM file \(.*DICM/);
  refused('empty file', new Uint8Array(0), 'BAD_IMAGE', /not a readable DICOM file/);
  refused('truncated in the header', ok.subarray(0, 140), 'BAD_IMAGE', /not a readable DICOM file/);
  refused(
    'truncated in the pixels',
    ok.subarray(0, ok.length - 6),
    'BAD_IMAGE',
    /not a readable DICOM file|pixel data/,
  );
  const pixels = (n: number) => Array.from({ length: n }, (_, i) => i);
  for (const ts of ['1.2.840.10008.1.2.4.50', '1.2.840.10008.1.2.2', '1.2.840.10008.1.2.1.99']) {
    const f = dicom({ rows: 2, cols: 2, bits: 8, pixels: pixels(4), transferSyntax: ts });
    refused(`transfer syntax ${ts}`, f, 'UNSUPPORTED_IMAGE', /transfer syntax .* not supported/);
  }
  for (const bits of [1, 12, 32]) {
    const f = dicom({ rows: 2, cols: 2, bits, pixels: pixels(8) });
    refused(`${bits} bits allocated`, f, 'UNSUPPORTED_IMAGE', /bits allocated: only 8 or 16/);
  }
  refused(
    '0 bits allocated',
    dicom({ rows: 2, cols: 2, bits: 0, pixels: [] }),
    'BAD_IMAGE',
    /no bits allocated/,
  );
  const rgb = dicom({ rows: 1, cols: 1, bits: 8, pixels: [0, 0, 0], photometric: 'RGB', samples: 3 });
  refused('colour', rgb, 'UNSUPPORTED_IMAGE', /only monochrome/);
  refused('zero rows', dicom({ rows: 0, cols: 4, bits: 8, pixels: [] }), 'BAD_IMAGE', /empty or invalid/);
  refused('zero columns', dicom({ rows: 4, cols: 0, bits: 8, pixels: [] }), 'BAD_IMAGE', /empty or invalid/);
  refused(
    'zero frames',
    dicom({ rows: 1, cols: 1, bits: 8, pixels: [0], frames: 0 }),
    'BAD_IMAGE',
    /invalid/,
  );
  const tall = dicom({ rows: MAX_IMAGE_SIDE + 1, cols: 1, bits: 8, pixels: [0] });
  refused('a side above the limit', tall, 'IMAGE_TOO_LARGE', /exceeds 16384 pixels per side/);
  // Refused on the declared size alone, although the file holds 1 byte of pixel data: nothing of
  // that size was allocated.
  const frames = dicom({ rows: MAX_IMAGE_SIDE, cols: MAX_IMAGE_SIDE, bits: 16, pixels: [0], frames: 2 });
  refused('rows × cols × frames above the limit', frames, 'IMAGE_TOO_LARGE', /samples exceeds the limit/);
  // At the limit the size passes, and the short pixel data is what is wrong.
  const atLimit = dicom({ rows: MAX_IMAGE_SIDE, cols: MAX_IMAGE_SIDE, bits: 16, pixels: [0] });
  refused(
    'pixel data shorter than a 16384² frame',
    atLimit,
    'BAD_IMAGE',
    /pixel data holds 2 bytes, 536870912 needed/,
  );
  const short = dicom({ rows: 4, cols: 4, bits: 16, pixelBytes: marked.subarray(0, 30) });
  refused('pixel data shorter than declared', short, 'BAD_IMAGE', /pixel data holds 30 bytes, 32 needed/);
  const oneOfThree = dicom({ rows: 2, cols: 2, bits: 8, pixels: pixels(4), frames: 3 });
  refused('fewer frames than declared', oneOfThree, 'BAD_IMAGE', /pixel data holds 4 bytes, 12 needed/);
  const nan = dicom({ rows: 2, cols: 2, bits: 8, pixels: pixels(4), rescale: [Number.NaN, 0] });
  refused('rescale slope not a number', nan, 'BAD_IMAGE', /rescale/);
});

// The decoder before the lookup-table rewrite (kept verbatim as a test fixture) is the reference:
// every valid image must decode to exactly the same bytes.
test('DICOM valid input: same pixels as the pre-rewrite decoder (real MedMNIST images and synthetic ranges)', () => {
  let s = 7;
  const rnd = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
  const files: [string, Uint8Array][] = [];
  for (const name of ['pneumoniamnist', 'breastmnist'] as const) {
    const ds = loadMedMnist(name, 'test');
    const px = ds.width * ds.height;
    for (const k of [0, 1, 17]) {
      const real = Array.from(ds.images.subarray(k * px, (k + 1) * px));
      const shape = { rows: ds.height, cols: ds.width };
      files.push([`${name} ${k} 8-bit`, dicom({ ...shape, bits: 8, pixels: real })]);
      files.push([
        `${name} ${k} 16-bit rescaled`,
        dicom({ ...shape, bits: 16, pixels: real.map((v) => v * 16 + (k % 16)), rescale: [0.5, -100] }),
      ]);
      files.push([
        `${name} ${k} 16-bit window, MONOCHROME1`,
        dicom({
          ...shape,
          bits: 16,
          pixels: real.map((v) => v * 16),
          window: [2000, 3000],
          photometric: 'MONOCHROME1',
        }),
      ]);
    }
  }
  for (let k = 0; k < 4; k++) {
    const n16 = 17 * 23;
    files.push([
      `signed 16-bit, negative slope ${k}`,
      dicom({
        rows: 17,
        cols: 23,
        bits: 16,
        signed: true,
        pixels: Array.from({ length: n16 }, () => Math.floor(rnd() * 65536) - 32768),
        rescale: [-1.25, 7],
      }),
    ]);
    files.push([
      `signed 8-bit ${k}`,
      dicom({
        rows: 9,
        cols: 31,
        bits: 8,
        signed: true,
        pixels: Array.from({ length: 279 }, () => Math.floor(rnd() * 256) - 128),
      }),
    ]);
  }
  files.push(['constant image', dicom({ rows: 3, cols: 3, bits: 16, pixels: Array(9).fill(1234) })]);
  files.push([
    'narrow window',
    dicom({ rows: 1, cols: 5, bits: 16, pixels: [0, 99, 100, 101, 4000], window: [100, 2] }),
  ]);
  // Pixel data at an odd offset inside the file (the 16-bit codes are then read without a view).
  const odd = dicom({ rows: 2, cols: 3, bits: 16, pixels: [5, 900, 17, 65535, 0, 300] });
  const shifted = new Uint8Array(odd.length + 1).subarray(1);
  shifted.set(odd);
  files.push(['16-bit at an odd byte offset', shifted]);
  for (const [what, f] of files) {
    const got = decodeDicom(f, what);
    const want = legacyDecodeDicom(f, what);
    assert.equal(got.width, want.width, what);
    assert.equal(got.height, want.height, what);
    assert.equal(got.channels, 1, what);
    assert.deepEqual(got.data, want.data, what);
  }
  // And the comparison can fail: a different window gives different pixels.
  const a = decodeDicom(dicom({ rows: 1, cols: 3, bits: 16, pixels: [0, 500, 4000], window: [500, 401] }));
  const b = legacyDecodeDicom(
    dicom({ rows: 1, cols: 3, bits: 16, pixels: [0, 500, 4000], window: [600, 401] }),
  );
  assert.notDeepEqual(a.data, b.data);
});

test('DICOM: a multi-frame file decodes its first frame', () => {
  const f = dicom({ rows: 1, cols: 2, bits: 8, pixels: [0, 255, 255, 0], frames: 2 });
  assert.deepEqual([...decodeDicom(f).data], [0, 255]);
});

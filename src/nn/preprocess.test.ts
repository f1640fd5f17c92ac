import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NnError } from './errors.ts';
import {
  normalizePixel,
  type PreprocessSpec,
  preprocessImage,
  validatePreprocessSpec,
} from './preprocess.ts';

const spec: PreprocessSpec = { width: 4, height: 4, channels: 1, mean: [0.5], std: [0.25], resize: 'area' };

test('same-size grayscale input is exactly normalizePixel per pixel (what training uses)', () => {
  const data = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
  const out = preprocessImage(spec, { data, width: 4, height: 4, channels: 1 });
  assert.deepEqual(
    out,
    Float32Array.from(data, (v) => normalizePixel(v, 0.5, 0.25)),
  );
});

test('area downscaling averages 2×2 blocks; RGBA becomes BT.601 luma, alpha ignored', () => {
  // 8×8 image whose 2×2 blocks are constant → 4×4 result equals the block values.
  const gray = new Uint8Array(64);
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) gray[y * 8 + x] = ((y >> 1) * 4 + (x >> 1)) * 10;
  const small = Uint8Array.from({ length: 16 }, (_, i) => i * 10);
  const want = preprocessImage(spec, { data: small, width: 4, height: 4, channels: 1 });
  const got = preprocessImage(spec, { data: gray, width: 8, height: 8, channels: 1 });
  for (let i = 0; i < 16; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-6);
  const rgba = new Uint8Array(64 * 4);
  for (let i = 0; i < 64; i++) rgba.set([gray[i], gray[i], gray[i], 7], i * 4);
  const fromRgba = preprocessImage(spec, { data: rgba, width: 8, height: 8, channels: 4 });
  for (let i = 0; i < 16; i++) assert.ok(Math.abs(fromRgba[i] - want[i]) < 1e-5);
  // Non-integer ratio (10 → 4) keeps a constant image constant.
  const flat = preprocessImage(spec, {
    data: new Uint8Array(100).fill(128),
    width: 10,
    height: 10,
    channels: 1,
  });
  for (const v of flat) assert.ok(Math.abs(v - normalizePixel(128, 0.5, 0.25)) < 1e-6);
});

test('bad specs and images are NN_PREPROCESS_INVALID', () => {
  const isCode = (e: unknown) => e instanceof NnError && e.code === 'NN_PREPROCESS_INVALID';
  assert.throws(() => validatePreprocessSpec({ ...spec, std: [0] }), isCode);
  assert.throws(() => validatePreprocessSpec({ ...spec, mean: [0.1, 0.2] }), isCode);
  assert.throws(() => validatePreprocessSpec({ ...spec, resize: 'bicubic' }), isCode);
  assert.throws(() => validatePreprocessSpec(null), isCode);
  assert.equal(validatePreprocessSpec(JSON.parse(JSON.stringify(spec))).width, 4);
  assert.throws(
    () => preprocessImage(spec, { data: new Uint8Array(3), width: 2, height: 2, channels: 1 }),
    isCode,
  );
});

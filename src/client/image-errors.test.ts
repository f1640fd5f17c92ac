import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkImageSize,
  IMAGE_ERROR_CODES,
  ImageError,
  isImageErrorCode,
  MAX_IMAGE_SAMPLES,
  MAX_IMAGE_SIDE,
} from './image-errors.ts';

// The codes are a published contract (CLI failure lines, the web app's data-code, docs/service.md).
test('image error catalog: the stable codes, and the size check at its limits', () => {
  assert.deepEqual(Object.keys(IMAGE_ERROR_CODES), ['BAD_IMAGE', 'UNSUPPORTED_IMAGE', 'IMAGE_TOO_LARGE']);
  assert.ok(Object.isFrozen(IMAGE_ERROR_CODES));
  assert.ok(isImageErrorCode('BAD_IMAGE'));
  assert.ok(!isImageErrorCode('toString'));
  assert.ok(!isImageErrorCode('BAD_REQUEST'));
  const code = (size: { width: number; height: number; samples: number }) => {
    try {
      checkImageSize('read x', size);
      return 'ok';
    } catch (e) {
      assert.ok(e instanceof ImageError);
      assert.match(e.message, /^read x: /);
      return e.code;
    }
  };
  assert.equal(code({ width: MAX_IMAGE_SIDE, height: MAX_IMAGE_SIDE, samples: 1 }), 'ok');
  assert.equal(MAX_IMAGE_SIDE * MAX_IMAGE_SIDE, MAX_IMAGE_SAMPLES);
  assert.equal(code({ width: MAX_IMAGE_SIDE + 1, height: 1, samples: 1 }), 'IMAGE_TOO_LARGE');
  assert.equal(code({ width: 1, height: MAX_IMAGE_SIDE + 1, samples: 1 }), 'IMAGE_TOO_LARGE');
  assert.equal(code({ width: MAX_IMAGE_SIDE, height: MAX_IMAGE_SIDE, samples: 2 }), 'IMAGE_TOO_LARGE');
  assert.equal(code({ width: 9459, height: 9459, samples: 3 }), 'ok');
  assert.equal(code({ width: 9460, height: 9460, samples: 3 }), 'IMAGE_TOO_LARGE');
  for (const bad of [
    { width: 0, height: 5, samples: 1 },
    { width: 5, height: 0, samples: 1 },
    { width: 5, height: 5, samples: 0 },
    { width: Number.NaN, height: 5, samples: 1 },
    { width: 2.5, height: 5, samples: 1 },
    { width: -3, height: 5, samples: 1 },
  ])
    assert.equal(code(bad), 'BAD_IMAGE', JSON.stringify(bad));
});

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { _hex, _sha256 } from './_sha256.ts';

test('sha256 matches FIPS 180-4 vectors and node:crypto on random lengths', () => {
  assert.equal(
    _hex(_sha256(new TextEncoder().encode('abc'))),
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  );
  assert.equal(
    _hex(_sha256(new Uint8Array(0))),
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  );
  for (const n of [1, 55, 56, 63, 64, 65, 119, 1000, 4097]) {
    const data = randomBytes(n);
    assert.equal(_hex(_sha256(data)), createHash('sha256').update(data).digest('hex'), `length ${n}`);
  }
});

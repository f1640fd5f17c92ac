import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson } from './canonical-json.ts';
import { jsonDigest, sha256Digest } from './digest.ts';

test('canonicalJson sorts keys at every depth and drops undefined', () => {
  assert.equal(
    canonicalJson({ b: 1, a: [true, null, { d: 'x', c: 2.5 }], u: undefined }),
    '{"a":[true,null,{"c":2.5,"d":"x"}],"b":1}',
  );
});

test('canonicalJson refuses values with no canonical form', () => {
  assert.throws(() => canonicalJson({ x: Number.NaN }), /\$\.x is not a finite number/);
  assert.throws(() => canonicalJson(new Date()), /not a plain object/);
  assert.throws(() => canonicalJson({ f: () => 1 }), /unsupported type function/);
});

test('digests: the SHA-256 test vector and key-order independence', async () => {
  assert.equal(
    await sha256Digest(new TextEncoder().encode('abc')),
    'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  );
  assert.equal(await jsonDigest({ a: 1, b: 2 }), await jsonDigest({ b: 2, a: 1 }));
});

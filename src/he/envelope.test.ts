import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ENVELOPE_HEADER_BYTES,
  ENVELOPE_KINDS,
  readEnvelopeHeader,
  unwrap,
  unwrapList,
  unwrapPublicMaterial,
  wrap,
  wrapList,
  wrapPublicMaterial,
} from './envelope.ts';
import { type HeErrorCode, isHeError } from './errors.ts';
import { getPreset } from './presets.ts';

const A = getPreset('ckks-4096-d1');
const B = getPreset('ckks-8192-d2');
const payload = Uint8Array.from({ length: 100 }, (_, i) => i);

function code(f: () => unknown): HeErrorCode | 'no error' {
  try {
    f();
    return 'no error';
  } catch (e) {
    if (isHeError(e)) return e.code;
    throw e;
  }
}

describe('envelope', () => {
  it('round-trips kind, fingerprint and payload', () => {
    const env = wrap('ciphertext', A, payload);
    assert.equal(env.length, ENVELOPE_HEADER_BYTES + payload.length);
    assert.equal(new TextDecoder().decode(env.subarray(0, 4)), 'BDXE');
    const e = unwrap(env, { expectedKind: 'ciphertext', expectedFingerprint: A });
    assert.equal(e.kind, 'ciphertext');
    assert.equal(e.version, 1);
    assert.equal(e.fingerprint, A.fingerprint);
    assert.deepEqual([...e.payload], [...payload]);
    // Accepts a set of kinds and a hex fingerprint.
    assert.equal(
      unwrap(env, { expectedKind: ['result', 'ciphertext'], expectedFingerprint: A.fingerprint }).kind,
      'ciphertext',
    );
  });

  it('refuses each malformed header with its code', () => {
    const env = wrap('ciphertext', A, payload);
    const opts = { expectedKind: 'ciphertext', expectedFingerprint: A } as const;
    const patched = (at: number, value: number) => {
      const c = env.slice();
      c[at] = value;
      return c;
    };
    const cases: [string, Uint8Array, HeErrorCode, number?][] = [
      ['empty', new Uint8Array(0), 'HE_MALFORMED'],
      ['short header', env.subarray(0, 47), 'HE_MALFORMED'],
      ['bad magic', patched(0, 0x41), 'HE_BAD_MAGIC'],
      [
        'SEAL bytes instead',
        Uint8Array.of(0x5e, 0xa1, 16, 4, 1, 0, 0, 0, ...new Uint8Array(40)),
        'HE_BAD_MAGIC',
      ],
      ['bad version', patched(4, 2), 'HE_BAD_VERSION'],
      ['version 0', patched(4, 0), 'HE_BAD_VERSION'],
      ['unknown kind', patched(5, 99), 'HE_MALFORMED'],
      ['wrong kind', patched(5, ENVELOPE_KINDS['galois-keys']), 'HE_WRONG_KIND'],
      ['result is not an input', patched(5, ENVELOPE_KINDS.result), 'HE_WRONG_KIND'],
      ['reserved set', patched(6, 1), 'HE_MALFORMED'],
      ['other preset', wrap('ciphertext', B, payload), 'HE_WRONG_PRESET'],
      ['fingerprint bit flip', patched(20, env[20] ^ 1), 'HE_WRONG_PRESET'],
      ['truncated payload', env.subarray(0, env.length - 1), 'HE_MALFORMED'],
      ['trailing bytes', Uint8Array.of(...env, 0), 'HE_MALFORMED'],
      ['declared length huge', patched(47, 0xff), 'HE_TOO_LARGE'],
      ['over maxBytes', env, 'HE_TOO_LARGE', 100],
    ];
    for (const [name, bytes, expected, maxBytes] of cases) {
      assert.equal(
        code(() => unwrap(bytes, { ...opts, ...(maxBytes ? { maxBytes } : {}) })),
        expected,
        name,
      );
    }
  });

  it('checks the declared length from the header alone', () => {
    const env = wrap('galois-keys', A, new Uint8Array(5000));
    const h = readEnvelopeHeader(env.subarray(0, ENVELOPE_HEADER_BYTES), {
      expectedKind: 'galois-keys',
      expectedFingerprint: A,
    });
    assert.equal(h.totalLength, env.length);
    assert.equal(
      code(() =>
        readEnvelopeHeader(env.subarray(0, ENVELOPE_HEADER_BYTES), {
          expectedKind: 'galois-keys',
          expectedFingerprint: A,
          maxBytes: 1000,
        }),
      ),
      'HE_TOO_LARGE',
    );
  });

  it('refuses invalid arguments', () => {
    assert.equal(
      code(() => wrap('nonsense' as 'ciphertext', A, payload)),
      'HE_INVALID_ARGUMENT',
    );
    assert.equal(
      code(() => wrap('ciphertext', 'abc', payload)),
      'HE_INVALID_ARGUMENT',
    );
    assert.equal(
      code(() =>
        unwrap([1, 2] as unknown as Uint8Array, { expectedKind: 'ciphertext', expectedFingerprint: A }),
      ),
      'HE_INVALID_ARGUMENT',
    );
    assert.equal(
      code(() => unwrap(payload, { expectedKind: [], expectedFingerprint: A })),
      'HE_INVALID_ARGUMENT',
    );
  });

  it('wraps and unwraps lists of envelopes', () => {
    const items = [1, 2, 3].map((n) => wrap('ciphertext', A, new Uint8Array(n * 10).fill(n)));
    const list = wrapList('ciphertext-batch', A, items);
    const got = unwrapList(list, { expectedKind: 'ciphertext-batch', expectedFingerprint: A });
    assert.deepEqual(
      got.map((e) => e.payload.length),
      [10, 20, 30],
    );
    assert.equal(got[2].payload[0], 3);
    const opts = { expectedKind: 'ciphertext-batch', expectedFingerprint: A } as const;
    assert.equal(
      code(() => unwrapList(list, { ...opts, maxItems: 2 })),
      'HE_TOO_LARGE',
    );
    // A count that cannot fit, a truncated last item, trailing junk, an item of another preset.
    const bump = list.slice();
    bump[ENVELOPE_HEADER_BYTES] = 200;
    assert.equal(
      code(() => unwrapList(bump, opts)),
      'HE_MALFORMED',
    );
    const fewer = list.slice();
    fewer[ENVELOPE_HEADER_BYTES] = 2;
    assert.equal(
      code(() => unwrapList(fewer, opts)),
      'HE_MALFORMED',
    );
    const foreign = wrap(
      'ciphertext-batch',
      A,
      Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0, ...wrap('ciphertext', B, payload)),
    );
    assert.equal(
      code(() => unwrapList(foreign, opts)),
      'HE_WRONG_PRESET',
    );
    const nested = wrap('ciphertext-batch', A, Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0, ...list));
    assert.equal(
      code(() => unwrapList(nested, opts)),
      'HE_WRONG_KIND',
    );
    const keyInBatch = wrap(
      'ciphertext-batch',
      A,
      Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0, ...wrap('public-key', A, payload)),
    );
    assert.equal(
      code(() => unwrapList(keyInBatch, opts)),
      'HE_WRONG_KIND',
    );
    assert.equal(
      code(() => wrapList('ciphertext-batch', A, [wrap('public-key', A, payload)])),
      'HE_INVALID_ARGUMENT',
    );
  });

  it('carries public material as one list and checks its shape', () => {
    const m = { publicKey: payload, relinKeys: new Uint8Array(7), galoisKeys: new Uint8Array(9) };
    const env = wrapPublicMaterial(A, m);
    const got = unwrapPublicMaterial(env, { expectedFingerprint: A });
    assert.equal(got.publicKey.length, 100);
    assert.equal(got.relinKeys?.length, 7);
    assert.equal(got.galoisKeys?.length, 9);
    const onlyPk = unwrapPublicMaterial(wrapPublicMaterial(A, { publicKey: payload }), {
      expectedFingerprint: A,
    });
    assert.equal(onlyPk.relinKeys, undefined);
    const twoPks = wrap(
      'public-material',
      A,
      Uint8Array.of(
        2,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        ...wrap('public-key', A, payload),
        ...wrap('public-key', A, payload),
      ),
    );
    assert.equal(
      code(() => unwrapPublicMaterial(twoPks, { expectedFingerprint: A })),
      'HE_MALFORMED',
    );
    assert.equal(
      code(() => unwrapPublicMaterial(env, { expectedFingerprint: B })),
      'HE_WRONG_PRESET',
    );
  });
});

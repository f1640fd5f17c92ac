import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { HeError } from './errors.ts';
import { createParameters, type ParametersLiteral, parametersToLiteral, TC128_MAX_BITS } from './params.ts';
import { PRESETS } from './presets.ts';

const D2: ParametersLiteral = {
  scheme: 'ckks',
  polyModulusDegree: 8192,
  coeffModulusBits: [60, 40, 40, 60],
  scaleBits: 40,
};

/** Asserts that `f` throws an HeError with `code` whose message names `mentions`. */
function throwsCode(f: () => unknown, code: string, mentions?: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof HeError, `expected HeError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, /^cannot /);
    if (mentions) assert.match(e.message, mentions);
    return true;
  });
}

describe('createParameters validation', () => {
  const bad: [string, unknown, RegExp][] = [
    ['not an object', null, /"literal"/],
    ['unknown scheme', { ...D2, scheme: 'bgv' }, /"scheme"/],
    ['ring degree not a power of two', { ...D2, polyModulusDegree: 5000 }, /"polyModulusDegree"/],
    ['ring degree too small', { ...D2, polyModulusDegree: 2048 }, /"polyModulusDegree"/],
    ['ring degree too large', { ...D2, polyModulusDegree: 65536 }, /"polyModulusDegree"/],
    ['one prime only', { ...D2, coeffModulusBits: [60] }, /"coeffModulusBits"/],
    ['not an array', { ...D2, coeffModulusBits: '60,40' }, /"coeffModulusBits"/],
    ['prime above 60 bits', { ...D2, coeffModulusBits: [61, 40, 60] }, /"coeffModulusBits"/],
    [
      'prime too small for NTT (< log2(2N)+2)',
      { ...D2, coeffModulusBits: [60, 15, 60] },
      /"coeffModulusBits"/,
    ],
    ['fractional prime size', { ...D2, coeffModulusBits: [60, 40.5, 60] }, /"coeffModulusBits"/],
    ['scaleBits below 10', { ...D2, scaleBits: 9 }, /"scaleBits"/],
    ['scaleBits above 60', { ...D2, scaleBits: 61 }, /"scaleBits"/],
    ['scaleBits not an integer', { ...D2, scaleBits: 40.5 }, /"scaleBits"/],
    ['plainModulusBits on CKKS', { ...D2, plainModulusBits: 20 }, /"plainModulusBits"/],
    [
      'BFV without plainModulusBits',
      { scheme: 'bfv', polyModulusDegree: 4096, coeffModulusBits: [36, 36, 37] },
      /"plainModulusBits"/,
    ],
    [
      'scaleBits on BFV',
      {
        scheme: 'bfv',
        polyModulusDegree: 4096,
        coeffModulusBits: [36, 36, 37],
        plainModulusBits: 20,
        scaleBits: 30,
      },
      /"scaleBits"/,
    ],
  ];
  for (const [what, literal, mentions] of bad) {
    test(`refuses ${what} with HE_INVALID_ARGUMENT naming the argument`, () => {
      throwsCode(() => createParameters(literal as ParametersLiteral), 'HE_INVALID_ARGUMENT', mentions);
    });
  }

  test('refuses parameter sets below 128-bit security with HE_INSECURE_PARAMETERS', () => {
    // 110 bits at N=4096: one bit over the HomomorphicEncryption.org tc128 bound of 109.
    throwsCode(
      () => createParameters({ scheme: 'ckks', polyModulusDegree: 4096, coeffModulusBits: [40, 40, 30] }),
      'HE_INSECURE_PARAMETERS',
      /110 .*N=4096.*max 109/,
    );
    // One bit over the bound at every ring degree.
    const overBy1: Record<number, number[]> = {
      4096: [60, 50],
      8192: [60, 60, 60, 39],
      16384: [60, 60, 60, 60, 60, 60, 60, 19],
      32768: [...Array(14).fill(60), 42],
    };
    for (const [n, bits] of Object.entries(overBy1)) {
      assert.equal(
        bits.reduce((a, b) => a + b, 0),
        TC128_MAX_BITS[Number(n)] + 1,
      );
      throwsCode(
        () => createParameters({ scheme: 'ckks', polyModulusDegree: Number(n), coeffModulusBits: bits }),
        'HE_INSECURE_PARAMETERS',
      );
    }
  });

  test('accepts exactly the tc128 maximum', () => {
    const p = createParameters({ scheme: 'ckks', polyModulusDegree: 4096, coeffModulusBits: [36, 36, 37] });
    assert.equal(p.totalBits, 109);
  });
});

describe('Parameters values', () => {
  test('derived fields', () => {
    const p = createParameters(D2);
    assert.equal(p.totalBits, 200);
    assert.equal(p.maxLevel, 2);
    assert.equal(p.slots, 4096);
    const b = createParameters({
      scheme: 'bfv',
      polyModulusDegree: 4096,
      coeffModulusBits: [36, 36, 37],
      plainModulusBits: 20,
    });
    assert.equal(b.slots, 4096);
  });

  test('literal ↔ parameters round trip for every preset', () => {
    for (const [name, p] of Object.entries(PRESETS)) {
      const literal = parametersToLiteral(p);
      const back = createParameters(JSON.parse(JSON.stringify(literal)));
      assert.deepEqual(back, p, name);
      assert.deepEqual(parametersToLiteral(back), literal, name);
    }
  });

  test('fingerprint is SHA-256 of the canonical description (a fixed test vector)', () => {
    const canonical = '{"v":1,"scheme":"ckks","n":8192,"q":[60,40,40,60],"scaleBits":40}';
    const expected = createHash('sha256').update(canonical).digest('hex');
    assert.equal(createParameters(D2).fingerprint, expected);
    // Pinned so that a change of the canonical form (which would orphan every stored envelope) fails here.
    assert.equal(expected, 'e4138eaf33a65c5265d261a0f6f5f17599ca8c1ee2fb7b88c6909792cf6ed901');
  });

  test('fingerprint is stable (key order, copies) and distinct across presets and variations', () => {
    const reordered = JSON.parse(
      '{"scaleBits":40,"coeffModulusBits":[60,40,40,60],"polyModulusDegree":8192,"scheme":"ckks"}',
    );
    assert.equal(createParameters(reordered).fingerprint, createParameters(D2).fingerprint);
    const prints = Object.values(PRESETS).map((p) => p.fingerprint);
    assert.equal(new Set(prints).size, prints.length);
    const variants = [
      { ...D2, scaleBits: 39 },
      { ...D2, scaleBits: undefined },
      { ...D2, coeffModulusBits: [60, 40, 60, 40] },
      { ...D2, coeffModulusBits: [60, 40, 40] },
    ].map((l) => createParameters(l).fingerprint);
    assert.equal(new Set([...variants, createParameters(D2).fingerprint]).size, 5);
  });

  test('is frozen and does not alias the literal', () => {
    const bits = [60, 40, 40, 60];
    const p = createParameters({ ...D2, coeffModulusBits: bits });
    assert.ok(Object.isFrozen(p));
    assert.ok(Object.isFrozen(p.coeffModulusBits));
    assert.throws(() => {
      (p as { maxLevel: number }).maxLevel = 9;
    }, TypeError);
    assert.throws(() => (p.coeffModulusBits as number[]).push(60), TypeError);
    bits[1] = 50;
    assert.deepEqual(p.coeffModulusBits, [60, 40, 40, 60]);
  });
});

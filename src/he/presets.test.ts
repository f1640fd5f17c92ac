import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HeContext } from './context.ts';
import { HeError } from './errors.ts';
import type { Parameters } from './params.ts';
import { choosePreset, getPreset, PRESETS, presetByFingerprint } from './presets.ts';

function throwsCode(f: () => unknown, code: string): void {
  assert.throws(f, (e: unknown) => e instanceof HeError && e.code === code);
}

// ckks-32768-d16 is validated (createParameters ran at import) but gets no SEAL context here: its
// context alone takes ~12 s and ~1 GB on these machines. Everything else is created for real.
const TESTED = Object.keys(PRESETS).filter((n) => PRESETS[n].polyModulusDegree < 32768);

describe('every preset (except N=32768) creates a 128-bit SEAL context', () => {
  for (const name of TESTED) {
    test(name, async () => {
      using ctx = await HeContext.create(name);
      const p = ctx.params;
      assert.equal(ctx.presetName, name);
      assert.equal(p, PRESETS[name]);
      assert.ok(p.totalBits <= 881);
      // SEAL picked one prime per requested bit size, and the data levels are exactly maxLevel+1.
      const top = ctx.level(ctx.maxLevel);
      assert.equal(top.primes.length, p.coeffModulusBits.length - 1);
      top.primes.forEach((q, i) => {
        assert.equal(q.toString(2).length, p.coeffModulusBits[i], `${name} prime ${i}`);
        assert.equal(q % BigInt(2 * p.polyModulusDegree), 1n, 'NTT-friendly: q ≡ 1 mod 2N');
      });
      for (let l = 0; l <= ctx.maxLevel; l++) assert.equal(ctx.level(l).primes.length, l + 1);
      throwsCode(() => ctx.level(ctx.maxLevel + 1), 'HE_INVALID_ARGUMENT');
    });
  }
});

describe('HeContext.create validates what it is given', () => {
  test('a forged Parameters-shaped object is re-validated (its own fields are not trusted)', async () => {
    const forged = {
      scheme: 'ckks',
      polyModulusDegree: 4096,
      coeffModulusBits: [36, 36, 37],
      fingerprint: 'forged',
      maxLevel: 5,
      slots: 99,
    } as unknown as Parameters;
    using ctx = await HeContext.create(forged);
    assert.equal(ctx.maxLevel, 1);
    assert.equal(ctx.params.slots, 2048);
    assert.match(ctx.params.fingerprint, /^[0-9a-f]{64}$/);
    await assert.rejects(
      HeContext.create({ ...forged, coeffModulusBits: [60, 50] } as unknown as Parameters),
      (e: unknown) => e instanceof HeError && e.code === 'HE_INSECURE_PARAMETERS',
    );
  });

  test('a preset passed as Parameters or as its literal is that preset', async () => {
    using a = await HeContext.create(PRESETS['ckks-4096-d1']);
    assert.equal(a.params, PRESETS['ckks-4096-d1']);
    using b = await HeContext.create({
      scheme: 'ckks',
      polyModulusDegree: 4096,
      coeffModulusBits: [38, 32, 38],
      scaleBits: 32,
    });
    assert.equal(b.params, PRESETS['ckks-4096-d1']);
  });
});

describe('getPreset / presetByFingerprint', () => {
  test('known names and fingerprints resolve', () => {
    for (const [name, p] of Object.entries(PRESETS)) {
      assert.equal(getPreset(name), p);
      assert.deepEqual(presetByFingerprint(p.fingerprint), { name, params: p });
    }
    assert.equal(presetByFingerprint('00'.repeat(32)), undefined);
  });

  test('unknown names throw HE_UNKNOWN_PRESET listing the known ones (prototype keys too)', async () => {
    for (const name of ['ckks-1024', '', 'toString', '__proto__', 'constructor']) {
      assert.throws(
        () => getPreset(name),
        (e: unknown) =>
          e instanceof HeError && e.code === 'HE_UNKNOWN_PRESET' && e.message.includes('ckks-8192-d2'),
      );
    }
    await assert.rejects(
      HeContext.create('ckks-65536'),
      (e: unknown) => e instanceof HeError && e.code === 'HE_UNKNOWN_PRESET',
    );
  });
});

describe('choosePreset', () => {
  test('documented picks', () => {
    assert.equal(choosePreset({ depth: 2, scaleBits: 40 }).name, 'ckks-8192-d2');
    assert.equal(choosePreset({ depth: 0, scaleBits: 40 }).name, 'ckks-8192-d2');
    // ckks-4096-d1 leaves 38 − 32 = 6 integer bits, so it fits only when the caller asks for ≤ 6.
    assert.equal(choosePreset({ depth: 1, scaleBits: 30, integerBits: 6 }).name, 'ckks-4096-d1');
    assert.equal(choosePreset({ depth: 1, scaleBits: 30 }).name, 'ckks-8192-d2');
    // ckks-8192-d3 has a 49-bit first prime: 9 integer bits above a 2^40 scale.
    assert.equal(choosePreset({ depth: 3, scaleBits: 40, integerBits: 9 }).name, 'ckks-8192-d3');
    assert.equal(choosePreset({ depth: 3, scaleBits: 40, integerBits: 10 }).name, 'ckks-16384-d7');
    assert.equal(choosePreset({ depth: 8, scaleBits: 40 }).name, 'ckks-32768-d16');
    assert.equal(choosePreset({ depth: 1, scaleBits: 20, integerBits: 6, slots: 4096 }).name, 'ckks-8192-d2');
  });

  test('always returns the smallest fitting preset (exhaustive over a grid)', () => {
    const fits = (p: Parameters, depth: number, scaleBits: number, integerBits: number, slots: number) =>
      p.scheme === 'ckks' &&
      p.scaleBits !== undefined &&
      p.maxLevel >= depth &&
      p.scaleBits >= scaleBits &&
      p.coeffModulusBits[0] >= p.scaleBits + integerBits &&
      p.slots >= slots;
    const size = (p: Parameters) => [p.polyModulusDegree, p.totalBits];
    for (const depth of [0, 1, 2, 3, 5, 7, 9, 16, 17])
      for (const scaleBits of [20, 32, 40, 41])
        for (const integerBits of [4, 6, 9, 10, 20])
          for (const slots of [1, 2048, 4096, 16384]) {
            const req = { depth, scaleBits, integerBits, slots };
            const all = Object.values(PRESETS).filter((p) => fits(p, depth, scaleBits, integerBits, slots));
            if (all.length === 0) {
              throwsCode(() => choosePreset(req), 'HE_NO_PRESET_FITS');
              continue;
            }
            const got = choosePreset(req).params;
            assert.ok(all.includes(got), JSON.stringify(req));
            for (const other of all) {
              const [gn, gb] = size(got);
              const [on, ob] = size(other);
              assert.ok(
                gn < on || (gn === on && gb <= ob),
                `${JSON.stringify(req)}: ${other.fingerprint} is smaller`,
              );
            }
          }
  });

  test('HE_NO_PRESET_FITS and argument errors', () => {
    throwsCode(() => choosePreset({ depth: 17, scaleBits: 40 }), 'HE_NO_PRESET_FITS');
    throwsCode(() => choosePreset({ depth: 1, scaleBits: 50 }), 'HE_NO_PRESET_FITS');
    throwsCode(() => choosePreset({ depth: 1, scaleBits: 40, slots: 32768 }), 'HE_NO_PRESET_FITS');
    throwsCode(() => choosePreset({ depth: -1, scaleBits: 40 }), 'HE_INVALID_ARGUMENT');
    throwsCode(() => choosePreset({ depth: 1.5, scaleBits: 40 }), 'HE_INVALID_ARGUMENT');
  });
});

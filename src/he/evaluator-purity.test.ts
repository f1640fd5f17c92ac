import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeContext } from './context.ts';
import { decrypt, encryptSymmetric } from './crypt.ts';
import { decodeSlots, encodeSlots } from './encoder.ts';
import { Evaluator } from './evaluator.ts';
import { generateKeys } from './keys.ts';

// Scales that differ only by float rounding are aligned for SEAL's exact check, but the caller's
// operands must come back unchanged.
test('add/sub/addPlain leave their operands untouched when aligning near-equal scales', async () => {
  using ctx = await HeContext.create('ckks-8192-d2');
  using keys = generateKeys(ctx, {});
  const ev = new Evaluator(ctx, keys);
  const s = ctx.defaultScale;
  const drift = s * (1 + 1e-12);
  using pa = encodeSlots(ctx, [1, 2, 3], { scale: s });
  using pb = encodeSlots(ctx, [4, 5, 6], { scale: drift });
  using a = encryptSymmetric(keys, pa);
  using b = encryptSymmetric(keys, pb);
  for (const op of [
    () => ev.add(a, b),
    () => ev.sub(a, b),
    () => ev.addPlain(a, pb),
    () => ev.subPlain(a, pb),
  ]) {
    using r = op();
    assert.equal(r.scale, s);
  }
  assert.equal(b.scale, drift);
  assert.equal(pb.scale, drift);
  using sum = ev.add(a, b);
  using dec = decrypt(keys, sum);
  const got = decodeSlots(dec);
  for (const [i, v] of [5, 7, 9].entries()) assert.ok(Math.abs(got[i] - v) < 1e-5);
});

test('rotate by 0 is the identity and needs no Galois key', async () => {
  using ctx = await HeContext.create('ckks-4096-d1');
  using keys = generateKeys(ctx, {});
  const ev = new Evaluator(ctx, keys);
  using pt = encodeSlots(ctx, [1, 2, 3, 4]);
  using ct = encryptSymmetric(keys, pt);
  using r = ev.rotate(ct, 0);
  using dec = decrypt(keys, r);
  const got = decodeSlots(dec);
  for (const [i, v] of [1, 2, 3, 4].entries()) assert.ok(Math.abs(got[i] - v) < 1e-3);
});

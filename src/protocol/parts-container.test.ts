import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeParts, encodeParts } from './parts-container.ts';

test('parts container round-trips names and bytes, including empty parts', () => {
  const parts = [
    { name: 'publicKey', bytes: new Uint8Array([1, 2, 3]) },
    { name: 'galoisKeys', bytes: new Uint8Array(0) },
    { name: '0', bytes: new Uint8Array(1000).fill(7) },
  ];
  const back = decodeParts(encodeParts(parts), { maxParts: 8 });
  assert.deepEqual(
    back.map((p) => [p.name, [...p.bytes]]),
    parts.map((p) => [p.name, [...p.bytes]]),
  );
});

test('parts container refuses malformed input with a BAD_REQUEST that says why', () => {
  const good = encodeParts([{ name: 'a', bytes: new Uint8Array([1, 2, 3, 4]) }]);
  const cases: [Uint8Array, RegExp][] = [
    [good.subarray(0, 5), /shorter than the 12-byte header/],
    [Uint8Array.from([0, ...good.subarray(1)]), /magic/],
    [good.subarray(0, good.length - 1), /run past the end/],
    [Uint8Array.from([...good, 0]), /trailing bytes/],
    [
      encodeParts([
        { name: 'a', bytes: new Uint8Array() },
        { name: 'b', bytes: new Uint8Array() },
      ]),
      /exceeds the limit of 1/,
    ],
  ];
  for (const [buf, re] of cases) {
    assert.throws(
      () => decodeParts(buf, { maxParts: 1 }),
      (e: any) => e.code === 'BAD_REQUEST' && re.test(e.message),
    );
  }
  const dup = encodeParts([
    { name: 'a', bytes: new Uint8Array() },
    { name: 'a', bytes: new Uint8Array() },
  ]);
  assert.throws(() => decodeParts(dup, { maxParts: 4 }), /duplicate name "a"/);
  const huge = good.slice();
  new DataView(huge.buffer).setUint32(15, 0xffffffff, true);
  assert.throws(() => decodeParts(huge, { maxParts: 4 }), /run past the end/);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NnError } from '../errors.ts';
import { groupedSplit } from './grouped-split.ts';

test('groupedSplit keeps every group in one split, stratifies, and is seeded', () => {
  // 300 groups of 1–3 samples; label = group % 3.
  const groups: string[] = [];
  const labels: number[] = [];
  for (let g = 0; g < 300; g++) {
    for (let k = 0; k <= g % 4 && k < 3; k++) {
      groups.push(`L${g}`);
      labels.push(g % 3);
    }
  }
  const s = groupedSplit(groups, labels, { test: 0.2, val: 0.1, seed: 7 });
  const all = [...s.train, ...s.val, ...s.test].sort((a, b) => a - b);
  assert.deepEqual(
    all,
    groups.map((_, i) => i),
  );
  const where = new Map<string, string>();
  for (const [name, idx] of Object.entries(s)) {
    for (const i of idx as number[]) {
      const prev = where.get(groups[i]);
      assert.ok(prev === undefined || prev === name, `group ${groups[i]} in ${prev} and ${name}`);
      where.set(groups[i], name);
    }
  }
  // 100 groups per label → exactly 20 test and 10 val groups per label.
  for (const y of [0, 1, 2]) {
    const testGroups = new Set(s.test.filter((i) => labels[i] === y).map((i) => groups[i]));
    const valGroups = new Set(s.val.filter((i) => labels[i] === y).map((i) => groups[i]));
    assert.equal(testGroups.size, 20);
    assert.equal(valGroups.size, 10);
  }
  assert.deepEqual(groupedSplit(groups, labels, { test: 0.2, val: 0.1, seed: 7 }), s);
  assert.notDeepEqual(groupedSplit(groups, labels, { test: 0.2, val: 0.1, seed: 8 }).test, s.test);
});

test('groupedSplit with one sample per group is a stratified split; bad input is refused', () => {
  const labels = Array.from({ length: 100 }, (_, i) => (i < 90 ? 0 : 1));
  const s = groupedSplit(
    labels.map((_, i) => i),
    labels,
    { test: 0.2, val: 0, seed: 1 },
  );
  assert.equal(s.test.length, 20);
  assert.equal(s.test.filter((i) => labels[i] === 1).length, 2);
  assert.equal(s.val.length, 0);
  assert.throws(
    () => groupedSplit([1, 2], [0], { test: 0.2, val: 0, seed: 1 }),
    (e: unknown) => e instanceof NnError && e.code === 'NN_SHAPE_MISMATCH',
  );
  assert.throws(
    () => groupedSplit([1, 2], [0, 1], { test: 0.6, val: 0.5, seed: 1 }),
    (e: unknown) => e instanceof NnError && e.code === 'NN_INVALID_ARGUMENT',
  );
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classCounts } from './dataset.ts';
import { loadKmnistSplit } from './kmnist-split.node.ts';

test('KMNIST seeded split: 8,000 train + 2,000 test, all classes on both sides, deterministic', () => {
  const train = loadKmnistSplit('train');
  const test2 = loadKmnistSplit('test');
  assert.equal(train.n, 8000);
  assert.equal(test2.n, 2000);
  assert.equal(
    classCounts(train.labels).reduce((a, b) => a + b, 0) +
      classCounts(test2.labels).reduce((a, b) => a + b, 0),
    10000,
  );
  assert.ok(classCounts(test2.labels).every((c) => c > 150));
  assert.deepEqual(loadKmnistSplit('test').labels.subarray(0, 50), test2.labels.subarray(0, 50));
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  floorChecks,
  missingFloorRows,
  type ResultRow,
  resultsJson,
  resultsTables,
} from './results-report.ts';

const row = (over: Partial<ResultRow>): ResultRow => ({
  dataset: 'MNIST',
  model: 'm',
  split: 'official test split',
  n: 10000,
  testSize: 10000,
  seed: 1,
  plainAcc: 0.99,
  simN: 2000,
  simAcc: 0.99,
  simAgreement: 1,
  encAcc: 0.99,
  agreement: 1,
  maxAbsLogitDelta: 1e-3,
  encMode: 'throughput',
  encProtected: true,
  encParams: 'N=16384 [60,40,60]',
  encMsPerImage: 20,
  msPerImage: 900,
  latencyImages: 5,
  latencyImageMs: [900, 880, 950, 901, 899],
  latencyProtected: true,
  latencyParams: 'N=16384 [60,53,60]',
  latencyAgreement: 1,
  latencyMaxAbsLogitDelta: 1e-3,
  bytesUp: 900_000,
  bytesDown: 260_000,
  galoisKeys: 11,
  galoisKeyBytes: 80_000_000,
  relinKeyBytes: 7_000_000,
  measuredAt: '2026-11-21T13:00:00Z',
  wallSeconds: 1,
  ...over,
});

const met = (r: ResultRow, prefix: string) => floorChecks(r).find((c) => c.floor.startsWith(prefix))?.met;

test('floorChecks: every issue-7 floor passes and fails at its threshold', () => {
  assert.ok(floorChecks(row({})).every((c) => c.met));
  assert.equal(met(row({ encAcc: 0.9849, plainAcc: 0.9849 }), 'encrypted accuracy'), false);
  assert.equal(met(row({ encAcc: 0.985, plainAcc: 0.985 }), 'encrypted accuracy'), true);
  assert.equal(met(row({ agreement: 0.9949 }), 'encrypted vs plaintext'), false);
  assert.equal(met(row({ plainAcc: 0.996, encAcc: 0.99 }), 'accuracy drop'), false);
  assert.equal(met(row({ plainAcc: 0.995, encAcc: 0.99 }), 'accuracy drop'), true);
  assert.equal(met(row({ msPerImage: 1001 }), 'latency'), false);
  assert.equal(met(row({ latencyProtected: false }), 'latency'), false);
  assert.equal(met(row({ n: 999 }), 'encrypted test images'), false);
  assert.equal(met(row({ n: 1000 }), 'encrypted test images'), true);
  assert.equal(met(row({ n: 156, testSize: 156 }), 'encrypted test images'), true);
  // Datasets without an accuracy or latency floor get only the generic ones.
  assert.equal(floorChecks(row({ dataset: 'KMNIST' })).length, 3);
  assert.equal(met(row({ dataset: 'CIFAR-10', msPerImage: 59_000 }), 'latency'), true);
  assert.equal(met(row({ dataset: 'CIFAR-10', encAcc: 0.69, plainAcc: 0.69 }), 'encrypted accuracy'), false);
});

test('resultsJson keeps the issue schema; tables mark unmet floors ✗; missing floor datasets listed', () => {
  const rows = [row({}), row({ dataset: 'BreastMNIST', model: 'b', encAcc: 0.8, plainAcc: 0.8 })];
  const j = resultsJson(rows, 'cmd');
  for (const r of j.rows)
    for (const k of ['dataset', 'n', 'plainAcc', 'encAcc', 'agreement', 'msPerImage', 'bytesUp', 'bytesDown'])
      assert.ok(k in r, k);
  assert.equal(j.rows[0].galoisKeyBytes, 80_000_000);
  const md = resultsTables(rows).join('\n');
  assert.match(md, /\| MNIST \| m \|[^\n]*\| ✓ 5\/5 \|/);
  assert.match(md, /\| BreastMNIST \| b \|[^\n]*\| ✗ 3\/4 \|/);
  assert.match(md, /\| BreastMNIST \| b \| encrypted accuracy ≥ 83\.0% \| 80\.00% \| ✗ \|/);
  assert.deepEqual(missingFloorRows(rows).sort(), ['CIFAR-10', 'Fashion-MNIST', 'PneumoniaMNIST']);
  // A comparison net keeps its ✓/✗ count in the main table but is left out of the floors table.
  const cmp = resultsTables(rows, new Set(['b'])).join('\n');
  assert.match(cmp, /\| ✗ 3\/4 \(comparison net\) \|/);
  assert.doesNotMatch(cmp, /\| BreastMNIST \| b \| encrypted accuracy/);
});

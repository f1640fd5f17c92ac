import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tinyColourCnn } from '../../../../test/fixtures/cnn-models.ts';
import type { ImageDataset } from '../../data/dataset.ts';
import { planCnn } from '../planner.ts';
import { evaluatePlain } from '../results-eval.ts';
import { measureRow } from '../results-row.ts';
import { evaluateLatencyOnPool } from './latency-parallel.ts';

// The tiny colour net of results-eval.test.ts; labels = the float64 argmax except image 0.
const model = tinyColourCnn('tiny-pool');
const n = 8;
const images = Uint8Array.from({ length: n * 50 }, (_, i) => (i * 89 + (i >> 3) * 13) % 256);
const base: ImageDataset = { images, labels: new Uint8Array(n), n, height: 5, width: 5, channels: 2 };
const all = Array.from({ length: n }, (_, i) => i);
const labels = Uint8Array.from(evaluatePlain(model, base, all).preds, (p, i) => (i === 0 ? (p + 1) % 3 : p));
const ds: ImageDataset = { ...base, labels };

test('pool pass refuses an empty image list or a bad worker count before starting workers', async () => {
  const plain = evaluatePlain(model, ds, [1]);
  await assert.rejects(evaluateLatencyOnPool(model, ds, [], plain, planCnn(model), { workers: 2 }), {
    code: 'NN_INVALID_ARGUMENT',
  });
  await assert.rejects(evaluateLatencyOnPool(model, ds, [1], plain, planCnn(model), { workers: 0 }), {
    code: 'NN_INVALID_ARGUMENT',
  });
});

test('measureRow with a 2-worker pool pass (real SEAL): logits within 5e-2 of float64, latency timed alone on the first k', async () => {
  let poolImages = 0;
  const row = await measureRow(
    model,
    ds,
    { dataset: 'CIFAR-10', model: 'tiny-pool', split: 'synthetic' },
    {
      mode: 'latency',
      simN: 0,
      encN: n,
      latencyImages: 2,
      encryptedLatencyPass: (m, d, idx, plain, plan) => {
        poolImages = idx.length;
        return evaluateLatencyOnPool(m, d, idx, plain, plan, { workers: 2 });
      },
    },
  );
  assert.equal(poolImages, n);
  assert.equal(row.encN, n);
  assert.equal(row.encMode, 'latency');
  assert.equal(row.encProtected, true);
  assert.equal(row.agreement, 1);
  assert.equal(row.encAcc, row.plainAccOnEnc);
  assert.equal(row.encAcc, (n - 1) / n); // image 0 carries a wrong label on purpose
  assert.ok(row.maxAbsLogitDelta > 0 && row.maxAbsLogitDelta < 5e-2, `max |Δ| ${row.maxAbsLogitDelta}`);
  assert.equal(row.latencyImages, 2);
  assert.equal(row.latencyImageMs.length, 2);
  assert.equal(row.latencyProtected, true);
});

import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { evaluateEncrypted } from './encrypted-eval.node.ts';

const models = resolve(import.meta.dirname, '..', '..', '..', 'models');

// The floor on the committed demo model, on a prefix of the test split (the full 624-image
// run is `blinddx eval --model models/pneumoniamnist`; its output is in the closing note).
test('committed PneumoniaMNIST model: encrypted decisions equal plaintext, |Δp| ≤ 1e-6', async () => {
  const r = await evaluateEncrypted(resolve(models, 'pneumoniamnist'), { limit: 80 });
  assert.equal(r.n, 80);
  assert.equal(r.agreement, 1);
  assert.equal(r.encAcc, r.plainAcc);
  assert.ok(r.maxAbsDeltaP <= 1e-6, `max |Δp| = ${r.maxAbsDeltaP}`);
  assert.ok(r.maxAbsDeltaP > 0, 'an exactly zero difference would mean the encrypted path was not taken');
});

// Start-up plans a served CNN once: the demo stamp, the bundle build and the engine's check share the
// plan of the same model.json bytes (servedCnnPlanOfBytes). The engine still checks the signed
// client manifest against the plan of exactly the bytes it loads: different bytes are planned afresh
// and a bundle whose manifest does not match them is refused.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { utf8 } from '../../src/protocol/bytes.ts';
import { publicPart } from '../../src/protocol/ed25519.ts';
import { digestFiles, signModelBundle } from '../../src/protocol/model-bundle.ts';
import { CnnEngine } from '../../src/server/engines/cnn-engine.ts';
import {
  buildCnnModelBundle,
  CNN_MODEL_FILE,
  servedCnnPlanOfBytes,
} from '../../src/server/engines/cnn-model-bundle.ts';
import { loadBundle } from '../../src/server/model-registry.ts';
import { tinyColourCnn } from '../fixtures/cnn-models.ts';
import { makePublisherKey } from '../fixtures/model-bundles.ts';

test('servedCnnPlanOfBytes: same bytes share one plan until its last use; other bytes plan afresh', () => {
  const a = utf8(JSON.stringify(tinyColourCnn('plan-once-a')));
  const first = servedCnnPlanOfBytes(a, 'a');
  assert.equal(servedCnnPlanOfBytes(Uint8Array.from(a), 'a'), first, 'equal bytes: the same plan object');
  assert.equal(servedCnnPlanOfBytes(a, 'a', { last: true }), first, 'the last use still gets it');
  const again = servedCnnPlanOfBytes(a, 'a', { last: true });
  assert.notEqual(again, first, 'dropped after its last use: planned again');
  assert.deepEqual(again.plan, first.plan, 'and the planner is deterministic');
  const base = tinyColourCnn('plan-once-a');
  const other = {
    ...base,
    layers: base.layers.map((l) => (l.op === 'dense' ? { ...l, bias: [0, 0.5, -0.25] } : l)),
  };
  const b = servedCnnPlanOfBytes(utf8(JSON.stringify(other)), 'b', { last: true });
  assert.notDeepEqual(b.plan.server, first.plan.server);
  assert.throws(() => servedCnnPlanOfBytes(utf8('{"format":"x"}'), 'bad'), { code: 'MODEL_BUNDLE_MISMATCH' });
});

test('the engine reuses the build-time plan for the same bytes, and refuses a manifest planned from other bytes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'blinddx-plan-once-'));
  const engine = new CnnEngine({ workers: 1 });
  try {
    const key = await makePublisherKey(join(dir, 'publisher.pub.json'));
    const trusted = [publicPart(key)];
    const honest = tinyColourCnn('plan-once');
    writeFileSync(join(dir, 'honest.json'), JSON.stringify(honest));
    const built = await buildCnnModelBundle(join(dir, 'honest.json'), key);
    const bytes = built.serverFiles.get(CNN_MODEL_FILE)!;
    const cached = servedCnnPlanOfBytes(bytes, 'peek');

    // A correctly signed bundle whose client half is the honest plan but whose model.json plans to
    // another client half (other preprocessing; a change in the weights alone would not show there).
    const swapped = { ...honest, preprocessing: { scale: 1 / 255, mean: [0.4, 0.4], std: [0.25, 0.3] } };
    const swappedFiles = new Map([[CNN_MODEL_FILE, utf8(JSON.stringify(swapped))]]);
    const lying = await signModelBundle(
      {
        client: { ...built.bundle.client.payload, modelId: 'plan-once-lying' },
        server: {
          ...built.bundle.server.payload,
          modelId: 'plan-once-lying',
          files: await digestFiles(swappedFiles),
        },
      },
      key,
    );
    await assert.rejects(loadBundle(lying, swappedFiles, trusted, engine), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'MODEL_BUNDLE_MISMATCH');
      assert.match(e.message, /publishes a different plan/);
      return true;
    });

    // The honest bundle loads, taking the plan built above (its last use: dropped afterwards).
    const loaded = await loadBundle(built.bundle, built.serverFiles, trusted, engine);
    assert.equal(loaded.modelId, 'plan-once');
    assert.notEqual(servedCnnPlanOfBytes(bytes, 'after', { last: true }), cached, 'taken by the engine');
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

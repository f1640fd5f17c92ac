import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadCnnModelWeights } from '../train/cnn-export.ts';
import { Rng } from '../train/rng.ts';
import { packInput } from './client.ts';
import { runStages } from './executor.ts';
import { planCnn } from './planner.ts';
import { preprocessImage, referenceForward } from './reference.ts';
import { SimBackend } from './sim-backend.ts';
import { buildNet, exportModel } from './train-cifar10.node.ts';

test('exported CIFAR-10 net: IR reference = float32 net, and its plan simulates within 1e-2', () => {
  const net = buildNet('c4k6s4p1,c4k3s1,p2', 5);
  const rng = new Rng(9);
  const pre = { mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26] };
  // A few training-mode passes move the BatchNorm running statistics off their defaults.
  const xb = Float32Array.from({ length: 8 * 3072 }, () => rng.normal());
  for (let i = 0; i < 30; i++) net.forward(xb, 8, true);
  const model = exportModel(net, pre, 'cifar10-tiny');
  const px = Uint8Array.from({ length: 3072 }, () => rng.int(256));
  const x = preprocessImage(model, px);
  const want = referenceForward(model, x);
  const got = net.forward(Float32Array.from(x), 1, false);
  for (let k = 0; k < 10; k++)
    assert.ok(
      Math.abs(want[k] - got[k]) < 1e-3 * (1 + Math.abs(want[k])),
      `logit ${k}: ${got[k]} vs ${want[k]}`,
    );

  // A checkpoint loaded into a fresh network exports the same IR.
  const again = buildNet('c4k6s4p1,c4k3s1,p2', 6);
  loadCnnModelWeights(again, model);
  assert.deepEqual(exportModel(again, pre, 'cifar10-tiny'), model);

  const plan = planCnn(model);
  assert.equal(plan.stats.depth, 6); // im2col, x², conv, x², pool+dense, extract
  const sim = new SimBackend(
    { ...plan.client.params, scaleBits: plan.client.params.scaleBits! },
    { seed: 1 },
  );
  const out = sim.decrypt(
    runStages(sim, plan.server.stages, sim.encrypt(packInput(plan.client, px), plan.client.input.period)),
  );
  plan.client.output.positions.forEach((p, k) => {
    assert.ok(Math.abs(out[p] - want[k]) < 1e-2, `simulated logit ${k}: ${out[p]} vs ${want[k]}`);
  });
});

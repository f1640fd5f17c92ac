import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../train/rng.ts';
import { packInput } from './client.ts';
import { runStages } from './executor.ts';
import { planCnn } from './planner.ts';
import { preprocessImage, referenceForward } from './reference.ts';
import { SimBackend } from './sim-backend.ts';
import { BatchNorm, buildNet, exportModel, loadWeights } from './train-cifar10.node.ts';

test('BatchNorm backward matches finite differences of its training forward', () => {
  const rng = new Rng(3);
  const shape = [2, 2, 3];
  const batch = 3;
  const bn = new BatchNorm('bn', shape);
  bn.gamma.value.set([1.5, 0.7]);
  bn.beta.value.set([0.2, -0.1]);
  const x = Float32Array.from({ length: batch * 12 }, () => rng.normal());
  const r = Float32Array.from({ length: batch * 12 }, () => rng.normal());
  const loss = (xs: Float32Array) => bn.forward(xs, batch, true).reduce((a, v, i) => a + v * r[i], 0);
  bn.forward(x, batch, true);
  const dx = bn.backward(r, batch, true).slice();
  const dGamma = bn.gamma.grad.slice();
  const h = 1e-2;
  for (let i = 0; i < x.length; i++) {
    const xp = x.slice();
    xp[i] += h;
    const xm = x.slice();
    xm[i] -= h;
    const num = (loss(xp) - loss(xm)) / (2 * h);
    assert.ok(Math.abs(num - dx[i]) < 2e-2, `dx[${i}] ${dx[i]} vs numeric ${num}`);
  }
  // dL/dγ_c = Σ r·x̂ over channel c: recompute from the definition.
  const y0 = bn.forward(x, batch, true).slice();
  for (let c = 0; c < 2; c++) {
    let s = 0;
    for (let b = 0; b < batch; b++)
      for (let j = 0; j < 6; j++) {
        const k = (b * 2 + c) * 6 + j;
        s += (r[k] * (y0[k] - bn.beta.value[c])) / bn.gamma.value[c];
      }
    assert.ok(Math.abs(s - dGamma[c]) < 1e-3, `dγ[${c}] ${dGamma[c]} vs ${s}`);
  }
});

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
  loadWeights(again, model);
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

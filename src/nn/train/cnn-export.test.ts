import assert from 'node:assert/strict';
import { test } from 'node:test';
import { packInput } from '../cnn/client.ts';
import { runStages } from '../cnn/executor.ts';
import { parseCnnModel } from '../cnn/ir.ts';
import { importOnnxCnn } from '../cnn/onnx-import.ts';
import { planCnn } from '../cnn/planner.ts';
import { preprocessImage, referenceForward } from '../cnn/reference.ts';
import { SimBackend } from '../cnn/sim-backend.ts';
import { NnError } from '../errors.ts';
import { exportBackboneOnnx } from '../onnx/export-backbone.ts';
import type { BatchNorm } from './batchnorm.ts';
import { loadCnnModelWeights, sequentialToCnnModel } from './cnn-export.ts';
import { cnnPreset } from './cnn-presets.ts';
import type { LayerConfig } from './layer.ts';
import { Rng } from './rng.ts';
import { Sequential } from './sequential.ts';

const meta = {
  name: 'tiny',
  preprocessing: { scale: 1 / 255, mean: [0.5], std: [0.25] },
  classes: ['a', 'b', 'c'],
};

function tinyNet(seed: number, layers = cnnPreset('tiny', 3)): Sequential {
  const net = new Sequential([1, 28, 28], layers, new Rng(seed));
  for (const p of net.params()) for (let i = 0; i < p.value.length; i++) p.value[i] *= 0.3;
  return net;
}

function input(seed: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: 784 }, () => r.normal());
}

test('trained net → IR: the float64 reference reproduces the float32 training forward pass', () => {
  const net = tinyNet(3);
  const model = parseCnnModel(JSON.parse(JSON.stringify(sequentialToCnnModel(net, meta))));
  assert.deepEqual(
    model.layers.map((l) => l.op),
    ['conv2d', 'poly', 'flatten', 'dense', 'poly', 'dense'],
  );
  for (const s of [1, 2, 3]) {
    const x = input(s);
    const want = net.forward(x, 1, false);
    const got = referenceForward(model, Float64Array.from(x));
    got.forEach((v, k) => {
      assert.ok(Math.abs(v - want[k]) <= 1e-4 * Math.max(1, Math.abs(want[k])), `${v} vs ${want[k]}`);
    });
  }
});

test('trained net → ONNX → onnx-import → planCnn: same function, and the plan matches the reference', () => {
  const net = tinyNet(5);
  const ir = sequentialToCnnModel(net, meta);
  const imported = importOnnxCnn(exportBackboneOnnx(net.layers, net.inShape, { batch: 1 }), { name: 'tiny' });
  const x = Float64Array.from(input(9));
  const a = referenceForward(ir, x);
  const b = referenceForward(imported, x);
  a.forEach((v, k) => {
    assert.ok(Math.abs(v - b[k]) <= 1e-9 * Math.max(1, Math.abs(v)), `onnx ${b[k]} vs ir ${v}`);
  });
  const plan = planCnn(imported, { protect: false });
  const sim = new SimBackend(
    { ...plan.client.params, scaleBits: plan.client.params.scaleBits! },
    { noise: false },
  );
  const out = sim.decrypt(
    runStages(sim, plan.server.stages, sim.encrypt(packInput(plan.client, x), plan.client.input.period)),
  );
  plan.client.output.positions.forEach((p, k) => {
    assert.ok(Math.abs(out[p] - a[k]) <= 1e-6 * Math.max(1, Math.abs(a[k])), `plan ${out[p]} vs ${a[k]}`);
  });
});

test('poly activations export as IR poly coefficients; ReLU is refused', () => {
  const net = tinyNet(2, cnnPreset('tiny', 3, true));
  const ir = sequentialToCnnModel(net, meta);
  assert.deepEqual(ir.layers[1], { op: 'poly', coeffs: [0, 0, Math.fround(0.3)] });
  const x = input(4);
  const want = net.forward(x, 1, false);
  referenceForward(ir, Float64Array.from(x)).forEach((v, k) => {
    assert.ok(Math.abs(v - want[k]) <= 1e-4 * Math.max(1, Math.abs(want[k])));
  });
  const relu = new Sequential(
    [1, 28, 28],
    [{ type: 'conv2d', outChannels: 1, kernel: 7, stride: 3, padding: 0 }, { type: 'relu' }],
    new Rng(1),
  );
  assert.throws(
    () => sequentialToCnnModel(relu, meta),
    (e: unknown) => e instanceof NnError && e.code === 'NN_ONNX_UNSUPPORTED',
  );
});

test('BatchNorm nets export as IR batchnorm (running statistics), the planner folds them, and the IR loads back', () => {
  const layers: LayerConfig[] = [
    { type: 'conv2d', outChannels: 3, kernel: 7, stride: 3, padding: 0 },
    { type: 'batchnorm' },
    { type: 'square' },
    { type: 'dense', units: 6 },
    { type: 'batchnorm', epsilon: 1e-3 },
    { type: 'poly' },
    { type: 'dense', units: 3 },
  ];
  const net = new Sequential([1, 28, 28], layers, new Rng(7));
  const r = new Rng(8);
  const xb = Float32Array.from({ length: 16 * 784 }, () => r.normal());
  for (let i = 0; i < 5; i++) net.forward(xb, 16, true); // running statistics move off 0 / 1
  const ir = parseCnnModel(JSON.parse(JSON.stringify(sequentialToCnnModel(net, meta))));
  assert.deepEqual(
    ir.layers.map((l) => l.op),
    ['conv2d', 'batchnorm', 'poly', 'flatten', 'dense', 'batchnorm', 'poly', 'dense'],
  );
  const bn = ir.layers[1];
  assert.ok(bn.op === 'batchnorm' && bn.epsilon === 1e-5);
  assert.deepEqual(bn.mean, Array.from((net.layers[1] as BatchNorm).runningMean));
  for (const s of [1, 2]) {
    const x = input(s);
    const want = net.forward(x, 1, false);
    referenceForward(ir, Float64Array.from(x)).forEach((v, k) => {
      assert.ok(Math.abs(v - want[k]) <= 1e-4 * Math.max(1, Math.abs(want[k])), `${v} vs ${want[k]}`);
    });
  }
  // Folded: no level is spent on BatchNorm (same depth as the net without it), and the plan computes
  // the reference's function.
  const plan = planCnn(ir, { protect: false });
  const noBn = { ...ir, layers: ir.layers.filter((l) => l.op !== 'batchnorm') };
  assert.equal(plan.stats.depth, planCnn(noBn, { protect: false }).stats.depth);
  const px = Uint8Array.from({ length: 784 }, () => r.int(256));
  const want = referenceForward(ir, preprocessImage(ir, px));
  const sim = new SimBackend(
    { ...plan.client.params, scaleBits: plan.client.params.scaleBits! },
    { noise: false },
  );
  const out = sim.decrypt(
    runStages(sim, plan.server.stages, sim.encrypt(packInput(plan.client, px), plan.client.input.period)),
  );
  plan.client.output.positions.forEach((p, k) => {
    assert.ok(
      Math.abs(out[p] - want[k]) <= 1e-6 * Math.max(1, Math.abs(want[k])),
      `plan ${out[p]} vs ${want[k]}`,
    );
  });
  // The IR is a checkpoint: a fresh network of the same layers exports the same IR after loading it.
  const fresh = new Sequential([1, 28, 28], layers, new Rng(99));
  loadCnnModelWeights(fresh, ir);
  assert.deepEqual(fresh.buffers(), net.buffers());
  assert.deepEqual(sequentialToCnnModel(fresh, meta), sequentialToCnnModel(net, meta));
  const isShape = (e: unknown) => e instanceof NnError && e.code === 'NN_SHAPE_MISMATCH';
  assert.throws(
    () => loadCnnModelWeights(new Sequential([1, 28, 28], cnnPreset('tiny', 3), new Rng(1)), ir),
    isShape,
  );
  assert.throws(
    () =>
      loadCnnModelWeights(fresh, {
        ...ir,
        layers: ir.layers.map((l) => (l.op === 'batchnorm' ? { ...l, epsilon: 1e-3 } : l)),
      }),
    isShape,
  );
  assert.throws(() => loadCnnModelWeights(fresh, { ...ir, layers: ir.layers.slice(0, -1) }), isShape);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import type { LayerConfig } from '../train/layer.ts';
import { Rng } from '../train/rng.ts';
import { Sequential } from '../train/sequential.ts';
import { exportBackboneOnnx } from './export-backbone.ts';
import { loadBackboneWeights } from './import-backbone-weights.ts';
import { decodeOnnxModel } from './onnx-model.ts';

const convs: LayerConfig[] = [
  { type: 'conv2d', outChannels: 4, kernel: 3, stride: 1, padding: 1 },
  { type: 'relu' },
  { type: 'maxpool', kernel: 2, stride: 2 },
  { type: 'conv2d', outChannels: 6, kernel: 3, stride: 2, padding: 1 },
  { type: 'relu' },
  { type: 'avgpool', kernel: 2, stride: 1 },
];

async function compare(configs: LayerConfig[], inShape: number[], batch: number): Promise<void> {
  const rng = new Rng(7);
  const net = new Sequential(inShape, configs, rng);
  // Non-zero biases so a bias mistake in the export shows up.
  for (const p of net.params()) {
    if (p.name.endsWith('.bias')) for (let i = 0; i < p.value.length; i++) p.value[i] = rng.normal() * 0.1;
  }
  const per = inShape.reduce((a, b) => a * b, 1);
  const x = Float32Array.from({ length: batch * per }, () => rng.normal());
  const want = net.forward(x, batch, false).slice();
  const bytes = exportBackboneOnnx(net.layers, inShape);
  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run({ image: new ort.Tensor('float32', x, [batch, ...inShape]) });
  const got = out.embedding;
  assert.deepEqual(got.dims, [batch, net.outShape[0]]);
  const data = got.data as Float32Array;
  for (let i = 0; i < want.length; i++)
    assert.ok(Math.abs(data[i] - want[i]) <= 1e-4, `at ${i}: ${data[i]} vs ${want[i]}`);
}

test('exported backbone (Conv/Relu/MaxPool/AveragePool/GAP/Gemm) matches the TS forward in onnxruntime', async () => {
  await compare([...convs, { type: 'gap' }, { type: 'dense', units: 5 }, { type: 'relu' }], [1, 28, 28], 3);
});

test('flatten + dense backbone on 3 channels, batch 1', async () => {
  await compare([...convs, { type: 'flatten' }, { type: 'dense', units: 7 }], [3, 16, 16], 1);
});

test('dense directly after a conv map inserts a Flatten', async () => {
  await compare([convs[0], { type: 'dense', units: 3 }], [1, 8, 8], 2);
});

test('the written file decodes back to the same graph (opset 13, IR 8, dynamic batch)', () => {
  const net = new Sequential(
    [1, 28, 28],
    [...convs, { type: 'gap' }, { type: 'dense', units: 5 }],
    new Rng(1),
  );
  const m = decodeOnnxModel(exportBackboneOnnx(net.layers, [1, 28, 28], { metadata: { dataset: 'x' } }));
  assert.equal(m.irVersion, 8);
  assert.equal(m.opsetVersion, 13);
  assert.deepEqual(m.graph.inputs[0], { name: 'image', elemType: 1, shape: ['N', 1, 28, 28] });
  assert.deepEqual(m.graph.outputs[0], { name: 'embedding', elemType: 1, shape: ['N', 5] });
  assert.deepEqual(
    m.graph.nodes.map((n) => n.opType),
    ['Conv', 'Relu', 'MaxPool', 'Conv', 'Relu', 'AveragePool', 'GlobalAveragePool', 'Flatten', 'Gemm'],
  );
  assert.deepEqual(m.graph.initializers[0].data, net.params()[0].value);
  assert.equal(m.metadata.dataset, 'x');
});

test('loadBackboneWeights copies an exported backbone into a fresh network of the same shape', () => {
  const cfg: LayerConfig[] = [...convs, { type: 'gap' }, { type: 'dense', units: 5 }, { type: 'relu' }];
  const a = new Sequential([1, 28, 28], cfg, new Rng(1));
  const b = new Sequential([1, 28, 28], [...cfg, { type: 'dense', units: 1 }], new Rng(2));
  assert.equal(loadBackboneWeights(b, exportBackboneOnnx(a.layers, [1, 28, 28])), 6);
  for (const [i, p] of a.params().entries()) assert.deepEqual(b.params()[i].value, p.value);
  const c = new Sequential(
    [1, 28, 28],
    [{ type: 'conv2d', outChannels: 5, kernel: 3, stride: 1, padding: 1 }],
    new Rng(3),
  );
  assert.throws(() => loadBackboneWeights(c, exportBackboneOnnx(a.layers, [1, 28, 28])), /shapes differ/);
});

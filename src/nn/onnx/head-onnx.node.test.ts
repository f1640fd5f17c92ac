import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { NnError } from '../errors.ts';
import { evaluateHeadPlain, type HeadSpec } from '../head.ts';
import { headToOnnx, loadHeadFromOnnx } from './head-onnx.ts';
import { encodeOnnxModel, ONNX_FLOAT } from './onnx-model.ts';

const linear: HeadSpec = {
  kind: 'linear',
  inputDim: 4,
  outputs: 2,
  weights: [
    [0.5, -1, 2, 0.25],
    [1, 1, -0.5, 0],
  ],
  bias: [0.125, -0.5],
  activation: 'softmax',
  classes: ['benign', 'malignant'],
};
const mlp: HeadSpec = {
  kind: 'mlp',
  inputDim: 2,
  outputs: 1,
  layers: [
    {
      inputDim: 2,
      outputs: 3,
      weights: [
        [1, 0.5],
        [-1, 0.25],
        [0, 2],
      ],
      bias: [0, 1, -1],
    },
    { inputDim: 3, outputs: 1, weights: [[0.5, -0.25, 1]], bias: [0.75] },
  ],
  hiddenActivation: { kind: 'polynomial', coefficients: [0, 0, 1] },
  activation: 'sigmoid',
  classes: ['no', 'yes'],
};

test('headToOnnx → loadHeadFromOnnx round trip (linear and x² MLP), values exact in float32', () => {
  assert.deepEqual(loadHeadFromOnnx(headToOnnx(linear)), linear);
  assert.deepEqual(loadHeadFromOnnx(headToOnnx(mlp)), mlp);
});

test('the exported head runs in onnxruntime and matches evaluateHeadPlain', async () => {
  for (const spec of [linear, mlp]) {
    const session = await ort.InferenceSession.create(headToOnnx(spec));
    const x = spec.inputDim === 4 ? [0.5, -1, 2, 3] : [1.5, -0.5];
    const out = await session.run({
      embedding: new ort.Tensor('float32', Float32Array.from(x), [1, x.length]),
    });
    const want = evaluateHeadPlain(spec, x);
    const got = out.logits.data as Float32Array;
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-5);
  }
});

test('MatMul + Add + Sigmoid head from another exporter is read (weights transposed)', () => {
  const bytes = encodeOnnxModel({
    irVersion: 8,
    opsetVersion: 13,
    producerName: 'other',
    producerVersion: '1',
    graph: {
      name: 'g',
      nodes: [
        { opType: 'MatMul', name: 'mm', inputs: ['x', 'W'], outputs: ['y'], attributes: [] },
        { opType: 'Add', name: 'add', inputs: ['y', 'B'], outputs: ['z'], attributes: [] },
        { opType: 'Sigmoid', name: 's', inputs: ['z'], outputs: ['p'], attributes: [] },
      ],
      initializers: [
        { name: 'W', dims: [3, 1], dataType: ONNX_FLOAT, data: Float32Array.from([1, 2, 3]) },
        { name: 'B', dims: [1], dataType: ONNX_FLOAT, data: Float32Array.from([-1]) },
      ],
      inputs: [{ name: 'x', elemType: ONNX_FLOAT, shape: [1, 3] }],
      outputs: [{ name: 'p', elemType: ONNX_FLOAT, shape: [1, 1] }],
    },
    metadata: {},
  });
  const head = loadHeadFromOnnx(bytes);
  assert.equal(head.kind, 'linear');
  assert.deepEqual(head.kind === 'linear' && head.weights, [[1, 2, 3]]);
  assert.deepEqual(head.kind === 'linear' && head.bias, [-1]);
  assert.equal(head.activation, 'sigmoid');
  assert.deepEqual(head.classes, ['class0', 'class1']);
});

test('garbage and non-head graphs are rejected with stable codes', () => {
  assert.throws(
    () => loadHeadFromOnnx(Uint8Array.from([0xff, 0xff, 0xff])),
    (e: unknown) => e instanceof NnError && e.code === 'NN_ONNX_DECODE',
  );
  const conv = encodeOnnxModel({
    irVersion: 8,
    opsetVersion: 13,
    producerName: 'x',
    producerVersion: '1',
    graph: {
      name: 'g',
      nodes: [{ opType: 'Conv', name: 'c', inputs: ['x', 'W'], outputs: ['y'], attributes: [] }],
      initializers: [],
      inputs: [],
      outputs: [],
    },
    metadata: {},
  });
  assert.throws(
    () => loadHeadFromOnnx(conv),
    (e: unknown) => e instanceof NnError && e.code === 'NN_ONNX_UNSUPPORTED',
  );
});

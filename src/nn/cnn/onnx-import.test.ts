import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NnError } from '../errors.ts';
import {
  encodeOnnxModel,
  ONNX_FLOAT,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
} from '../onnx/onnx-model.ts';
import type { CnnModel } from './ir.ts';
import { importOnnxCnn } from './onnx-import.ts';
import { referenceForward } from './reference.ts';

const seq = (n: number, k: number) =>
  Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * k) * 0.5));

function onnx(nodes: OnnxNode[], initializers: OnnxTensor[], shape: number[]): OnnxModel {
  return {
    irVersion: 8,
    opsetVersion: 13,
    producerName: 'test',
    producerVersion: '0',
    graph: {
      name: 'g',
      nodes,
      initializers,
      inputs: [{ name: 'x', elemType: ONNX_FLOAT, shape: ['N', ...shape] }],
      outputs: [{ name: 'y', elemType: ONNX_FLOAT, shape: ['N', 3] }],
    },
    metadata: {},
  };
}

test('imports Conv → x·x → AveragePool → Flatten → Gemm (PyTorch export shape) with the same function', () => {
  const W = seq(18, 1.3);
  const B = seq(2, 0.7);
  const G = seq(54, 0.9); // Gemm B [3, 18] with transB
  const C = seq(3, 2.1);
  const m = onnx(
    [
      {
        opType: 'Conv',
        name: 'conv',
        inputs: ['x', 'W', 'B'],
        outputs: ['c'],
        attributes: [
          { name: 'kernel_shape', kind: 'ints', value: [3, 3] },
          { name: 'pads', kind: 'ints', value: [1, 1, 1, 1] },
          { name: 'strides', kind: 'ints', value: [1, 1] },
        ],
      },
      { opType: 'Mul', name: 'sq', inputs: ['c', 'c'], outputs: ['s'], attributes: [] },
      {
        opType: 'AveragePool',
        name: 'pool',
        inputs: ['s'],
        outputs: ['p'],
        attributes: [
          { name: 'kernel_shape', kind: 'ints', value: [2, 2] },
          { name: 'strides', kind: 'ints', value: [2, 2] },
        ],
      },
      { opType: 'Flatten', name: 'flat', inputs: ['p'], outputs: ['f'], attributes: [] },
      {
        opType: 'Gemm',
        name: 'fc',
        inputs: ['f', 'G', 'C'],
        outputs: ['y'],
        attributes: [{ name: 'transB', kind: 'int', value: 1 }],
      },
    ],
    [
      { name: 'W', dims: [2, 1, 3, 3], dataType: ONNX_FLOAT, data: W },
      { name: 'B', dims: [2], dataType: ONNX_FLOAT, data: B },
      { name: 'G', dims: [3, 18], dataType: ONNX_FLOAT, data: G },
      { name: 'C', dims: [3], dataType: ONNX_FLOAT, data: C },
    ],
    [1, 6, 6],
  );
  const got = importOnnxCnn(encodeOnnxModel(m), { name: 'imported' });
  const want: CnnModel = {
    format: 'blinddx-cnn',
    version: 1,
    name: 'imported',
    inputShape: [1, 6, 6],
    layers: [
      {
        op: 'conv2d',
        inChannels: 1,
        outChannels: 2,
        kernel: [3, 3],
        stride: [1, 1],
        padding: [1, 1],
        weight: [...W],
        bias: [...B],
      },
      { op: 'poly', coeffs: [0, 0, 1] },
      { op: 'avgpool2d', kernel: [2, 2], stride: [2, 2], padding: [0, 0] },
      { op: 'flatten' },
      { op: 'dense', inFeatures: 18, outFeatures: 3, weight: [...G], bias: [...C] },
    ],
  };
  assert.deepEqual(got, want);
  const x = Float64Array.from({ length: 36 }, (_, i) => (i % 7) / 7);
  assert.deepEqual(referenceForward(got, x), referenceForward(want, x));
});

test('one error lists every unsupported op and attribute, with the HE-friendly replacements', () => {
  const m = onnx(
    [
      {
        opType: 'Conv',
        name: 'c1',
        inputs: ['x', 'W'],
        outputs: ['a'],
        attributes: [
          { name: 'kernel_shape', kind: 'ints', value: [3, 3] },
          { name: 'group', kind: 'int', value: 2 },
        ],
      },
      { opType: 'Relu', name: 'r1', inputs: ['a'], outputs: ['b'], attributes: [] },
      { opType: 'MaxPool', name: 'm1', inputs: ['b'], outputs: ['c'], attributes: [] },
      { opType: 'LRN', name: 'n1', inputs: ['c'], outputs: ['y'], attributes: [] },
    ],
    [{ name: 'W', dims: [2, 1, 3, 3], dataType: ONNX_FLOAT, data: seq(18, 1) }],
    [2, 6, 6],
  );
  assert.throws(
    () => importOnnxCnn(encodeOnnxModel(m)),
    (e: unknown) =>
      e instanceof NnError &&
      e.code === 'NN_ONNX_UNSUPPORTED' &&
      /group 2/.test(e.message) &&
      /Relu "r1".*x²/.test(e.message) &&
      /MaxPool "m1".*AveragePool/.test(e.message) &&
      /LRN/.test(e.message) &&
      /supported: Conv/.test(e.message),
  );
});

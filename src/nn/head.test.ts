import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NnError } from './errors.ts';
import { evaluateHeadPlain, type HeadSpec, predictedClass, probabilities, validateHeadSpec } from './head.ts';

const linear: HeadSpec = {
  kind: 'linear',
  inputDim: 3,
  outputs: 1,
  weights: [[1, -2, 0.5]],
  bias: [0.25],
  activation: 'sigmoid',
  classes: ['normal', 'pneumonia'],
};

const mlp: HeadSpec = {
  kind: 'mlp',
  inputDim: 2,
  outputs: 3,
  layers: [
    {
      inputDim: 2,
      outputs: 2,
      weights: [
        [1, 1],
        [1, -1],
      ],
      bias: [0, 1],
    },
    {
      inputDim: 2,
      outputs: 3,
      weights: [
        [1, 0],
        [0, 1],
        [1, 1],
      ],
      bias: [0, 0, -1],
    },
  ],
  hiddenActivation: { kind: 'polynomial', coefficients: [0, 0, 1] },
  activation: 'softmax',
  classes: ['a', 'b', 'c'],
};

test('linear head: logits, sigmoid probabilities and class', () => {
  const logits = evaluateHeadPlain(linear, [2, 1, 4]);
  assert.deepEqual([...logits], [2 - 2 + 2 + 0.25]);
  const p = probabilities(linear, logits);
  assert.ok(Math.abs(p[1] - 1 / (1 + Math.exp(-2.25))) < 1e-15);
  assert.ok(Math.abs(p[0] + p[1] - 1) < 1e-15);
  assert.equal(predictedClass(linear, logits), 1);
});

test('mlp head with x² activation', () => {
  // hidden = [(1+2)², (1-2+1)²] = [9, 0]; logits = [9, 0, 8]
  const logits = evaluateHeadPlain(mlp, [1, 2]);
  assert.deepEqual([...logits], [9, 0, 8]);
  const p = probabilities(mlp, logits);
  assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  assert.equal(predictedClass(mlp, logits), 0);
});

test('validateHeadSpec accepts good heads (also after a JSON round trip)', () => {
  assert.deepEqual(validateHeadSpec(JSON.parse(JSON.stringify(linear))), linear);
  assert.deepEqual(validateHeadSpec(JSON.parse(JSON.stringify(mlp))), mlp);
});

test('validateHeadSpec names the broken field with code NN_HEAD_INVALID', () => {
  const cases: [unknown, RegExp][] = [
    [null, /head/],
    [{ ...linear, kind: 'tree' }, /kind/],
    [{ ...linear, inputDim: 0 }, /inputDim/],
    [{ ...linear, weights: [[1, 2]] }, /weights\[0\]/],
    [{ ...linear, weights: [[1, Number.NaN, 2]] }, /weights\[0\]/],
    [{ ...linear, bias: [] }, /bias/],
    [{ ...linear, activation: 'softmax' }, /activation/],
    [{ ...linear, classes: ['x'] }, /classes/],
    [{ ...mlp, layers: [{ ...mlp.layers[0], inputDim: 3 }, mlp.layers[1]] }, /layers\[0\]\.inputDim/],
    [{ ...mlp, hiddenActivation: { kind: 'relu' } }, /hiddenActivation/],
  ];
  for (const [input, re] of cases) {
    assert.throws(
      () => validateHeadSpec(input),
      (e: unknown) => e instanceof NnError && e.code === 'NN_HEAD_INVALID' && re.test(e.message),
      String(re),
    );
  }
  assert.throws(
    () => evaluateHeadPlain(linear, [1, 2]),
    (e: unknown) => e instanceof NnError && e.code === 'NN_SHAPE_MISMATCH',
  );
});

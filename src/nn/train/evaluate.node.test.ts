import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { loadMedMnist } from '../data/medmnist.node.ts';
import { NnError } from '../errors.ts';
import { loadBackboneWeights } from '../onnx/import-backbone-weights.ts';
import { preprocessImage } from '../preprocess.ts';
import { evaluateModelDir, loadSplitModelDir } from './evaluate.node.ts';
import { Rng } from './rng.ts';
import { Sequential } from './sequential.ts';
import { backboneLayers, toTensorData } from './split-model.ts';

const models = resolve(import.meta.dirname, '..', '..', '..', 'models');

// The committed demo model must keep its promise: ≥ 0.85 accuracy on all 624 test images, measured
// the way a client runs it (preprocessImage → onnxruntime backbone → float64 head).
test('committed PneumoniaMNIST split model: test accuracy ≥ 0.85, and equal to model.json', async () => {
  const dir = join(models, 'pneumoniamnist');
  const m = await evaluateModelDir(dir, 'test');
  assert.equal(m.n, 624);
  assert.ok(m.accuracy >= 0.85, `test accuracy ${m.accuracy}`);
  const manifest = loadSplitModelDir(dir).manifest;
  assert.ok(Math.abs(manifest.metrics.test.accuracy - m.accuracy) < 1e-12);
  assert.ok(Math.abs(manifest.metrics.test.auc - m.auc) < 1e-9);
});

test('committed BreastMNIST split model reproduces its recorded test metrics', async () => {
  const dir = join(models, 'breastmnist');
  const m = await evaluateModelDir(dir, 'test');
  const manifest = loadSplitModelDir(dir).manifest;
  assert.equal(m.n, 156);
  assert.ok(Math.abs(manifest.metrics.test.accuracy - m.accuracy) < 1e-12);
  assert.ok(Math.abs(manifest.metrics.test.auc - m.auc) < 1e-9);
});

test('client preprocessing of dataset images equals the tensors training used', () => {
  const { manifest } = loadSplitModelDir(join(models, 'pneumoniamnist'));
  const ds = loadMedMnist('pneumoniamnist', 'val');
  const t = toTensorData(ds, manifest.preprocessing);
  for (const i of [0, 1, 100, ds.n - 1]) {
    const img = {
      data: (ds.images as Uint8Array).subarray(i * 784, (i + 1) * 784),
      width: 28,
      height: 28,
      channels: 1 as const,
    };
    assert.deepEqual(preprocessImage(manifest.preprocessing, img), t.x.subarray(i * 784, (i + 1) * 784));
  }
});

test('committed backbone: onnxruntime embeddings equal the TS forward pass within 1e-4', async () => {
  const { manifest, backbone } = loadSplitModelDir(join(models, 'pneumoniamnist'));
  const net = new Sequential(
    [1, 28, 28],
    backboneLayers(manifest.embeddingDim, manifest.training.width as number),
    new Rng(0),
  );
  assert.equal(loadBackboneWeights(net, backbone), 8);
  const t = toTensorData(loadMedMnist('pneumoniamnist', 'test'), manifest.preprocessing);
  const b = 16;
  const x = t.x.subarray(0, b * 784);
  const want = net.forward(x, b, false);
  const session = await ort.InferenceSession.create(backbone);
  const got = (await session.run({ image: new ort.Tensor('float32', x.slice(), [b, 1, 28, 28]) })).embedding
    .data as Float32Array;
  await session.release();
  assert.equal(got.length, b * manifest.embeddingDim);
  for (let i = 0; i < got.length; i++)
    assert.ok(Math.abs(got[i] - want[i]) <= 1e-4, `at ${i}: ${got[i]} vs ${want[i]}`);
});

test('a tampered head.json is refused (digest mismatch → NN_MODEL_INVALID)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'blinddx-model-'));
  try {
    cpSync(join(models, 'pneumoniamnist'), dir, { recursive: true });
    const head = JSON.parse(readFileSync(join(dir, 'head.json'), 'utf8'));
    head.bias[0] += 1;
    writeFileSync(join(dir, 'head.json'), JSON.stringify(head));
    assert.throws(
      () => loadSplitModelDir(dir),
      (e: unknown) => e instanceof NnError && e.code === 'NN_MODEL_INVALID',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

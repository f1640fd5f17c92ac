import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseCnnModel } from '../cnn/ir.ts';
import type { ImageDataset } from '../data/dataset.ts';
import { loadCnnModelWeights, sequentialToCnnModel } from './cnn-export.ts';
import { cnnPreset } from './cnn-presets.ts';
import { Rng } from './rng.ts';
import { Sequential } from './sequential.ts';
import { trainCnn } from './train-cnn.node.ts';

/** 28×28 grey noise (class 0) vs the same with a bright 12×12 centre square (class 1). */
function images(n: number, seed: number): ImageDataset {
  const rng = new Rng(seed);
  const px = new Uint8Array(n * 784);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = rng.int(2);
    for (let p = 0; p < 784; p++) {
      const centre = Math.abs((p % 28) - 13.5) < 6 && Math.abs(Math.floor(p / 28) - 13.5) < 6;
      px[i * 784 + p] = Math.max(
        0,
        Math.min(255, Math.round((centre && labels[i] === 1 ? 190 : 110) + 40 * rng.normal())),
      );
    }
  }
  return { images: px, labels, n, height: 28, width: 28, channels: 1 };
}

test('presets: batchNorm is opt-in and sits between each conv/dense and its activation', () => {
  assert.ok(!cnnPreset('tiny', 3).some((l) => l.type === 'batchnorm'));
  assert.deepEqual(
    cnnPreset('tiny', 3, true, true).map((l) => l.type),
    ['conv2d', 'batchnorm', 'poly', 'flatten', 'dense', 'batchnorm', 'poly', 'dense'],
  );
});

test('trainCnn with batchNorm: IR carries batchnorm layers, no ONNX, and the IR reloads to the same net', () => {
  const dir = mkdtempSync(join(tmpdir(), 'blinddx-train-cnn-bn-'));
  try {
    const res = trainCnn({
      dataset: 'mnist',
      outDir: dir,
      arch: 'tiny',
      batchNorm: true,
      epochs: 4,
      lr: 1e-2,
      batchSize: 16,
      data: {
        train: images(192, 1),
        val: images(64, 2),
        test: images(64, 3),
        classes: ['left', 'right'],
        split: 'synthetic',
        testLoader: 'synthetic',
      },
    });
    assert.deepEqual(
      res.model.layers.map((l) => l.op),
      ['conv2d', 'batchnorm', 'poly', 'flatten', 'dense', 'batchnorm', 'poly', 'dense'],
    );
    assert.ok(!res.files.some((f) => f.endsWith('.onnx')));
    const training = JSON.parse(readFileSync(join(dir, 'training.json'), 'utf8'));
    assert.equal(training.batchNorm, true);
    assert.ok(res.metrics.test.accuracy > 0.85, `test accuracy ${res.metrics.test.accuracy}`);
    const saved = parseCnnModel(JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')));
    const bn = saved.layers[1];
    assert.ok(bn.op === 'batchnorm' && bn.variance.some((v) => v !== 1), 'running statistics were trained');
    const net = new Sequential([1, 28, 28], cnnPreset('tiny', 2, false, true), new Rng(5));
    loadCnnModelWeights(net, saved);
    assert.deepEqual(
      sequentialToCnnModel(net, { name: saved.name, preprocessing: saved.preprocessing! }).layers,
      saved.layers,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

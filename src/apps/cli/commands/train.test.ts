import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseCnnModel } from '../../../nn/cnn/ir.ts';
import { loadSplitModelDir } from '../../../nn/train/evaluate.node.ts';
import { main } from '../main.ts';

test('blinddx train refuses missing or bad arguments with exit code 2', async () => {
  const errors: string[] = [];
  const orig = console.error;
  console.error = (m: string) => errors.push(m);
  try {
    assert.equal(await main(['train', '--out', '/tmp/x']), 2);
    assert.equal(await main(['train', '--dataset', 'cifar', '--out', '/tmp/x']), 2);
    assert.equal(await main(['train', '--dataset', 'breastmnist', '--out', '/tmp/x', '--epochs', 'many']), 2);
  } finally {
    console.error = orig;
  }
  assert.match(errors.join('\n'), /--dataset/);
});

test('blinddx train writes backbone.onnx, head.json and a consistent model.json (tiny 1-epoch run)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'blinddx-train-'));
  const out = join(dir, 'tiny');
  const log = console.log;
  const write = process.stderr.write;
  console.log = () => {};
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    const mlp = await main([
      'train',
      '--dataset',
      'breastmnist',
      '--out',
      join(dir, 'mlp'),
      '--epochs',
      '1',
      '--width',
      '2',
      '--embedding-dim',
      '4',
      '--head-hidden',
      '3',
    ]);
    assert.equal(mlp, 0);
    const code = await main([
      'train',
      '--dataset',
      'breastmnist',
      '--out',
      out,
      '--epochs',
      '1',
      '--width',
      '4',
      '--embedding-dim',
      '8',
    ]);
    assert.equal(code, 0);
  } finally {
    console.log = log;
    process.stderr.write = write;
  }
  try {
    for (const f of ['backbone.onnx', 'head.json', 'model.json']) assert.ok(existsSync(join(out, f)), f);
    const { manifest, head } = loadSplitModelDir(out);
    assert.equal(manifest.name, 'tiny');
    assert.equal(manifest.embeddingDim, 8);
    assert.equal(head.inputDim, 8);
    assert.equal(manifest.metrics.test.n, 156);
    const mlpHead = loadSplitModelDir(join(dir, 'mlp')).head;
    assert.equal(mlpHead.kind, 'mlp');
    assert.deepEqual(mlpHead.kind === 'mlp' && mlpHead.layers.map((l) => [l.inputDim, l.outputs]), [
      [4, 3],
      [3, 1],
    ]);
    assert.match(manifest.training.command, /--embedding-dim 8/);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).classes, [
      'malignant',
      'normal, benign',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('blinddx train --kind cnn: tiny 1-epoch run writes IR + ONNX + training.json; same seed → same model', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'blinddx-train-cnn-'));
  const log = console.log;
  const write = process.stderr.write;
  console.log = () => {};
  process.stderr.write = (() => true) as typeof process.stderr.write;
  const run = (out: string, seed: string) =>
    main([
      'train',
      '--kind',
      'cnn',
      '--dataset',
      'breastmnist',
      '--arch',
      'tiny',
      '--out',
      join(dir, out),
      '--epochs',
      '1',
      '--seed',
      seed,
      '--limit',
      '200',
      '--shift',
      '1',
      '--flip',
      '--class-weights',
    ]);
  try {
    assert.equal(await run('a', '3'), 0);
    assert.equal(await run('b', '3'), 0);
    assert.equal(await run('c', '4'), 0);
  } finally {
    console.log = log;
    process.stderr.write = write;
  }
  try {
    const read = (d: string, f: string) => readFileSync(join(dir, d, f), 'utf8');
    // Same seed → identical weights (names differ: they follow the folder); another seed differs.
    const layers = (d: string) => JSON.stringify(JSON.parse(read(d, 'model.json')).layers);
    assert.ok(layers('a') === layers('b'), 'same seed, different weights');
    assert.ok(layers('a') !== layers('c'), 'different seeds, same weights');
    const model = parseCnnModel(JSON.parse(read('a', 'model.json')));
    assert.deepEqual(model.classes, ['malignant', 'normal, benign']);
    assert.ok(existsSync(join(dir, 'a', 'model.onnx')));
    const t = JSON.parse(read('a', 'training.json'));
    assert.equal(t.seed, 3);
    assert.equal(t.trainImages, 200);
    assert.equal(t.metrics.test.n, 156);
    assert.ok(t.metrics.test.accuracy >= 0 && t.metrics.test.accuracy <= 1);
    assert.match(t.command, /--kind cnn --dataset breastmnist --arch tiny/);
    assert.match(read('a', 'training.log'), /epoch 1\/1/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('blinddx train --kind cnn refuses unknown datasets, presets and kinds with exit code 2', async () => {
  const orig = console.error;
  console.error = () => {};
  try {
    assert.equal(await main(['train', '--kind', 'cnn', '--dataset', 'cifar', '--out', '/tmp/x']), 2);
    assert.equal(
      await main(['train', '--kind', 'cnn', '--dataset', 'mnist', '--arch', 'resnet', '--out', '/tmp/x']),
      2,
    );
    assert.equal(await main(['train', '--kind', 'gbm', '--dataset', 'mnist', '--out', '/tmp/x']), 2);
  } finally {
    console.error = orig;
  }
});

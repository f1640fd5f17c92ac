import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deflateRawSync } from 'node:zlib';
import { NnError } from '../errors.ts';
import { loadCifar10Jpeg } from './cifar10.node.ts';
import { loadHam10000Hmnist8, loadSklearnDigits } from './csv-digits.node.ts';
import { classCounts } from './dataset.ts';
import { loadIdxDataset } from './idx.node.ts';
import { loadKmnistTest } from './kmnist.node.ts';
import { loadMedMnist } from './medmnist.node.ts';
import { parseNpy } from './npy.ts';
import { readZipEntries } from './npz.node.ts';

// Counts below are the ones stated in shared/data/README.md.
test('MedMNIST splits have the documented sizes and class counts', () => {
  const want = {
    pneumoniamnist: { train: [1214, 3494], val: [135, 389], test: [234, 390] },
    breastmnist: { train: [147, 399], val: [21, 57], test: [42, 114] },
  } as const;
  for (const name of ['pneumoniamnist', 'breastmnist'] as const) {
    for (const split of ['train', 'val', 'test'] as const) {
      const ds = loadMedMnist(name, split);
      const counts = want[name][split];
      assert.equal(ds.n, counts[0] + counts[1]);
      assert.deepEqual([ds.height, ds.width, ds.channels], [28, 28, 1]);
      assert.equal(ds.images.length, ds.n * 28 * 28);
      assert.deepEqual(classCounts(ds.labels), [...counts]);
    }
  }
});

test('MNIST and Fashion-MNIST test splits load (idx gz)', () => {
  for (const name of ['mnist', 'fashion-mnist'] as const) {
    const ds = loadIdxDataset(name, 'test');
    assert.equal(ds.n, 10000);
    assert.deepEqual([ds.height, ds.width], [28, 28]);
    assert.equal(classCounts(ds.labels).length, 10);
  }
  assert.deepEqual(classCounts(loadIdxDataset('fashion-mnist', 'test').labels), new Array(10).fill(1000));
});

test('MNIST train split has 60,000 images', () => {
  const ds = loadIdxDataset('mnist', 'train');
  assert.equal(ds.n, 60000);
  assert.equal(ds.images.length, 60000 * 784);
});

test('KMNIST test split: 10,000 images, 1,000 per class', () => {
  const ds = loadKmnistTest();
  assert.equal(ds.n, 10000);
  assert.deepEqual(classCounts(ds.labels), new Array(10).fill(1000));
});

test('HAM10000 8×8 and sklearn digits load with documented counts', () => {
  const ham = loadHam10000Hmnist8();
  assert.equal(ham.n, 10015);
  assert.deepEqual(classCounts(ham.labels), [327, 514, 1099, 115, 6705, 142, 1113]);
  const digits = loadSklearnDigits();
  assert.equal(digits.n, 1797);
  assert.equal(classCounts(digits.labels).length, 10);
  assert.ok(digits.images.every((v) => v <= 255));
});

test('npy and zip parsers reject malformed input with NN_DATA_FORMAT', () => {
  assert.throws(
    () => parseNpy(new Uint8Array(20)),
    (e: unknown) => e instanceof NnError && e.code === 'NN_DATA_FORMAT',
  );
  assert.throws(
    () => readZipEntries(new Uint8Array(100)),
    (e: unknown) => e instanceof NnError && e.code === 'NN_DATA_FORMAT',
  );
});

test('zip reader inflates a DEFLATE entry', () => {
  // A minimal one-entry archive built by hand: local header, data, central header, end record.
  const payload = new TextEncoder().encode('hello hello hello');
  const comp = deflateRawSync(payload);
  const name = new TextEncoder().encode('a.npy');
  const local = new Uint8Array(30 + name.length);
  const lv = new DataView(local.buffer);
  lv.setUint32(0, 0x04034b50, true);
  lv.setUint16(8, 8, true);
  lv.setUint16(26, name.length, true);
  local.set(name, 30);
  const central = new Uint8Array(46 + name.length);
  const cv = new DataView(central.buffer);
  cv.setUint32(0, 0x02014b50, true);
  cv.setUint16(10, 8, true);
  cv.setUint32(20, comp.length, true);
  cv.setUint32(24, payload.length, true);
  cv.setUint16(28, name.length, true);
  cv.setUint32(42, 0, true);
  central.set(name, 46);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(10, 1, true);
  ev.setUint32(16, local.length + comp.length, true);
  const zip = Buffer.concat([local, comp, central, end]);
  const entries = readZipEntries(new Uint8Array(zip));
  assert.equal(new TextDecoder().decode(entries.get('a.npy')), 'hello hello hello');
});

test('CIFAR-10 JPEG test split: 10,000 32×32 RGB images, 1,000 per class', () => {
  const ds = loadCifar10Jpeg('test');
  assert.equal(ds.n, 10000);
  assert.deepEqual([ds.height, ds.width, ds.channels], [32, 32, 3]);
  assert.deepEqual(classCounts(ds.labels), new Array(10).fill(1000));
  assert.equal(ds.images.length, 10000 * 3072);
});

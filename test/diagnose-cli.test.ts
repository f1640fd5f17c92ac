// `blinddx diagnose` against the real service over loopback: the same image gives the probabilities
// `blinddx demo` prints (in-process flow), the output names the model digest, the signature check
// and the triage wording, the key is uploaded once, and each scan lands in the local history.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { main } from '../src/apps/cli/main.ts';
import { loadMedMnist, type MedMnistName } from '../src/nn/data/medmnist.node.ts';
import { loadSplitModelDir } from '../src/nn/train/evaluate.node.ts';
import { type SealTestService, startSealService } from './fixtures/seal-service.ts';
import { testSplitModelDir } from './fixtures/split-model.ts';

let modelDir: string;
let dataset: string;
let svc: SealTestService;
let home: string;
const saved: Record<string, string | undefined> = {};

before(async () => {
  modelDir = await testSplitModelDir();
  dataset = loadSplitModelDir(modelDir).manifest.dataset;
  svc = await startSealService(modelDir);
  home = mkdtempSync(join(tmpdir(), 'blinddx-home-'));
  for (const k of ['BLINDDX_HOME', 'BLINDDX_PASSPHRASE', 'BLINDDX_TRUSTED_KEYS', 'BLINDDX_TOKEN'])
    saved[k] = process.env[k];
  process.env.BLINDDX_HOME = home;
  process.env.BLINDDX_PASSPHRASE = 'correct horse battery staple';
  delete process.env.BLINDDX_TRUSTED_KEYS;
  delete process.env.BLINDDX_TOKEN;
});

after(async () => {
  await svc?.stop();
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  if (home) rmSync(home, { recursive: true, force: true });
});

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => out.push(a.join(' '));
  console.error = (...a: unknown[]) => err.push(a.join(' '));
  try {
    const code = await main(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

function diagnoseArgs(image: string, ...extra: string[]): string[] {
  return diagnoseArgsTrusting(join(svc.dir, 'publisher.pub.json'), image, ...extra);
}

function diagnoseArgsTrusting(trust: string, image: string, ...extra: string[]): string[] {
  const id = svc.built.modelId;
  return [
    'diagnose',
    image,
    '--server',
    svc.url,
    '--token',
    svc.token,
    '--model',
    id,
    '--trust',
    trust,
    '--backbone',
    join(svc.modelsDir, id, 'backbone.onnx'),
    ...extra,
  ];
}

const pValues = (text: string) => [...text.matchAll(/p=([0-9.]+)/g)].map((m) => Number(m[1]));

test('blinddx diagnose <dataset entry> prints the probabilities blinddx demo prints for that image', async () => {
  const demo = await run(['demo', '--model', modelDir, '--index', '0']);
  assert.equal(demo.code, 0, demo.err);
  const plain = /plaintext probabilities ([0-9., ]+)/.exec(demo.out)?.[1].split(',').map(Number);
  assert.ok(plain && plain.length >= 2, demo.out);

  const r = await run(diagnoseArgs(`${dataset}:test:0`));
  assert.equal(r.code, 0, r.err);
  const got = pValues(r.out);
  assert.equal(got.length, plain.length, r.out);
  got.forEach((p, i) => {
    assert.ok(Math.abs(p - plain[i]) <= 1e-6, `class ${i}: diagnose ${p} vs demo ${plain[i]}`);
  });
  assert.match(r.out, /triage support, not a diagnosis/);
  assert.match(r.out, /signature verified/);
  assert.match(r.out, /public key uploaded once/);
  const model = await (await fetch(`${svc.url}/v1/models`)).json();
  assert.ok(r.out.includes(model.models[0].modelDigest), 'prints the model digest');
});

test('PNG input gives the same result as its dataset entry; the key is not uploaded again; history grows', async () => {
  const ds = loadMedMnist(dataset as MedMnistName, 'test');
  const px = ds.width * ds.height;
  const png = join(home, 'scan.png');
  await sharp(Buffer.from(ds.images.subarray(px, 2 * px)), {
    raw: { width: ds.width, height: ds.height, channels: 1 },
  })
    .png()
    .toFile(png);
  const fromEntry = await run(diagnoseArgs(`${dataset}:test:1`, '--json'));
  assert.equal(fromEntry.code, 0, fromEntry.err);
  const fromPng = await run(diagnoseArgs(png, '--json'));
  assert.equal(fromPng.code, 0, fromPng.err);
  const a = JSON.parse(fromEntry.out);
  const b = JSON.parse(fromPng.out);
  assert.equal(a.bytes.keyUpload, 0);
  assert.equal(b.bytes.keyUpload, 0);
  assert.equal(b.source, 'scan.png');
  a.probabilities.forEach((p: number, i: number) => {
    assert.ok(Math.abs(p - b.probabilities[i]) <= 1e-6);
  });
  assert.equal(readdirSync(join(home, 'history')).length, 3);
  const hist = await run(['history', '--json']);
  const scans = JSON.parse(hist.out);
  assert.ok(scans.every((s: { signatureVerified: boolean }) => s.signatureVerified === true));
});

test('blinddx diagnose refuses a model signed by an untrusted key and missing arguments', async () => {
  const other = join(home, 'other.pub.json');
  await run(['sign', '--keygen', '--out', join(home, 'other')]);
  const r = await run(diagnoseArgsTrusting(other, `${dataset}:test:0`));
  assert.equal(r.code, 1);
  assert.match(r.err, /MODEL_SIGNATURE_INVALID/);
  const noServer = await run(['diagnose', `${dataset}:test:0`]);
  assert.equal(noServer.code, 2);
});

// SealHeadEngine without HTTP: a head too wide for one ciphertext (d = 2048, K = 7 → two output
// groups, two `result` envelopes back to back), a batch of inputs, and the bundle consistency checks
// loadModel makes before anything reaches a worker.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadResults } from '../../src/client/split-head-flow.ts';
import { HeContext } from '../../src/he/context.ts';
import { generateKeys, type KeySet } from '../../src/he/keys.ts';
import { decryptLogits, encryptEmbedding } from '../../src/nn/coeff-head-client.ts';
import { clientPlanOf } from '../../src/nn/coeff-head-plan.ts';
import { evaluateHeadPlain, type LinearHeadSpec } from '../../src/nn/head.ts';
import { canonicalJson } from '../../src/protocol/canonical-json.ts';
import type { Digest } from '../../src/protocol/digest.ts';
import { BlindDxError } from '../../src/protocol/errors.ts';
import { CLIENT_MANIFEST_FORMAT, SERVER_MANIFEST_FORMAT } from '../../src/protocol/model-bundle.ts';
import { SPLIT_HEAD_LAYOUT, type SplitHeadLayout } from '../../src/protocol/split-head-layout.ts';
import type { VerifiedModel } from '../../src/server/engine.ts';
import { headPlanFor, SealHeadEngine } from '../../src/server/engines/seal-head-engine.ts';

const D = 2048;
const K = 7;
const BOUND = 4;
const digest = (c: string) => `sha256:${c.repeat(64)}` as Digest;

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function makeModel(
  modelId: string,
  head: LinearHeadSpec,
  tweak: {
    layout?: (l: SplitHeadLayout) => SplitHeadLayout;
    plan?: (p: object) => object;
    preset?: string;
  } = {},
): VerifiedModel {
  const plan = headPlanFor(head, { embeddingBound: BOUND });
  let layout: SplitHeadLayout = {
    kind: SPLIT_HEAD_LAYOUT,
    embeddingDim: head.inputDim,
    activation: head.activation,
    backbone: { file: 'backbone.onnx', input: 'image', output: 'embedding' },
    plan: JSON.parse(JSON.stringify(clientPlanOf(plan))),
  };
  if (tweak.layout) layout = tweak.layout(layout);
  const planJson = tweak.plan ? tweak.plan(JSON.parse(JSON.stringify(plan))) : plan;
  const enc = new TextEncoder();
  return {
    modelId,
    version: '1',
    modelDigest: digest(modelId.length.toString(16).slice(0, 1)),
    client: {
      format: CLIENT_MANIFEST_FORMAT,
      modelId,
      version: '1',
      preset: tweak.preset ?? 'ckks-8192-coeff',
      inputLayout: layout as unknown as Record<string, unknown>,
      preprocessing: {},
      classes: head.classes,
      galoisSteps: [],
      needsRelinKeys: false,
      files: { 'backbone.onnx': digest('b') },
      serverDigest: digest('c'),
    },
    server: { format: SERVER_MANIFEST_FORMAT, modelId, version: '1', preset: 'ckks-8192-coeff', files: {} },
    files: new Map([
      ['head.json', enc.encode(JSON.stringify(head))],
      ['plan.json', enc.encode(canonicalJson(planJson))],
    ]),
  };
}

describe('SealHeadEngine', () => {
  const r = rng(7);
  const head: LinearHeadSpec = {
    kind: 'linear',
    inputDim: D,
    outputs: K,
    weights: Array.from({ length: K }, () => Array.from({ length: D }, () => (r() - 0.5) * 0.05)),
    bias: Array.from({ length: K }, () => r() - 0.5),
    activation: 'softmax',
    classes: Array.from({ length: K }, (_, i) => `class-${i}`),
  };
  let engine: SealHeadEngine;
  let ctx: HeContext;
  let keys: KeySet;

  before(async () => {
    engine = new SealHeadEngine({ workers: 1 });
    ctx = await HeContext.create('ckks-8192-coeff');
    keys = generateKeys(ctx, {});
  });
  after(async () => {
    await engine.close();
    keys[Symbol.dispose]();
    ctx[Symbol.dispose]();
  });

  test('d=2048, K=7: two output groups, a batch of two inputs, logits equal the float64 head', async () => {
    const model = makeModel('wide-head', head);
    await engine.loadModel(model);
    const layout = model.client.inputLayout as unknown as SplitHeadLayout;
    assert.equal(layout.plan.groups.length, 2);
    const material = { publicKey: keys.exportPublic().publicKey };
    assert.ok((await engine.validateKeyMaterial('wide-head', material)).bytes > 0);
    const xs = [0, 1].map(() => Array.from({ length: D }, () => (r() * 2 - 1) * (BOUND / 4)));
    const outs = await engine.infer({
      modelId: 'wide-head',
      clientId: 'cl_test',
      material,
      materialDigest: digest('d'),
      inputs: xs.map((x) => encryptEmbedding(keys, layout.plan, x)),
      signal: new AbortController().signal,
    });
    assert.equal(outs.length, 2);
    xs.forEach((x, i) => {
      const cts = loadResults(ctx, layout, outs[i]);
      const logits = decryptLogits(keys, layout.plan, cts);
      for (const c of cts) c[Symbol.dispose]();
      const plain = evaluateHeadPlain(head, x);
      for (let k = 0; k < K; k++) assert.ok(Math.abs(logits[k] - plain[k]) < 1e-6, `input ${i} logit ${k}`);
    });
    // A truncated second envelope is refused by the client before decryption.
    assert.throws(() => loadResults(ctx, layout, outs[0].subarray(0, outs[0].length - 10)));
  });

  test('masks from the reservoir: repeated queries stay exact and never share a mask', async () => {
    const layout = makeModel('wide-head', head).client.inputLayout as unknown as SplitHeadLayout;
    const material = { publicKey: keys.exportPublic().publicKey };
    const x = Array.from({ length: D }, () => (r() * 2 - 1) * (BOUND / 4));
    const input = encryptEmbedding(keys, layout.plan, x);
    const plain = evaluateHeadPlain(head, x);
    const seen = new Set<string>();
    for (let q = 0; q < 4; q++) {
      const [out] = await engine.infer({
        modelId: 'wide-head',
        clientId: 'cl_test',
        material,
        materialDigest: digest('f'),
        inputs: [input],
        signal: new AbortController().signal,
      });
      // The same input under a reused mask would give the same bytes.
      seen.add(Buffer.from(out).toString('base64'));
      const cts = loadResults(ctx, layout, out);
      const logits = decryptLogits(keys, layout.plan, cts);
      for (const c of cts) c[Symbol.dispose]();
      for (let k = 0; k < K; k++) assert.ok(Math.abs(logits[k] - plain[k]) < 1e-6, `query ${q} logit ${k}`);
      await new Promise((res) => setTimeout(res, 50)); // let the worker refill between queries
    }
    assert.equal(seen.size, 4);
  });

  test('loadModel refuses inconsistent bundles before any worker sees them', async () => {
    const refuses = async (m: VerifiedModel, re: RegExp) =>
      assert.rejects(engine.loadModel(m), (e: unknown) => {
        assert.ok(e instanceof BlindDxError, String(e));
        assert.equal(e.code, 'MODEL_BUNDLE_MISMATCH');
        assert.match(e.message, re);
        return true;
      });
    await refuses(makeModel('a', head, { preset: 'ckks-8192-d2' }), /preset/);
    await refuses(
      makeModel('b', head, {
        plan: (p) => ({ ...p, floodBits: (p as { floodBits: number }).floodBits - 1 }),
      }),
      /plan/,
    );
    await refuses(
      makeModel('c', head, {
        layout: (l) => ({ ...l, plan: { ...l.plan, inputScaleBits: l.plan.inputScaleBits + 1 } }),
      }),
      /different plan/,
    );
    await refuses(
      makeModel('d', head, { layout: (l) => ({ ...l, activation: 'sigmoid' }) }),
      /layout|sigmoid/,
    );
    const noHead = makeModel('e', head);
    (noHead.files as Map<string, Uint8Array>).delete('head.json');
    await refuses(noHead, /head\.json/);
    assert.equal(engine.stats().workerRestarts, 0);
  });

  test('unknown model: NOT_FOUND; an aborted request never reaches a worker', async () => {
    await assert.rejects(engine.validateKeyMaterial('nope', { publicKey: new Uint8Array(10) }), {
      code: 'NOT_FOUND',
    });
    const ac = new AbortController();
    ac.abort(new Error('deadline'));
    await assert.rejects(
      engine.infer({
        modelId: 'wide-head',
        clientId: 'cl_x',
        material: { publicKey: new Uint8Array(1) },
        materialDigest: digest('e'),
        inputs: [new Uint8Array(1)],
        signal: ac.signal,
      }),
      /deadline/,
    );
  });
});

// The encrypted-CNN (whole-image) flow end to end over real HTTP on loopback: the real service
// (startService, SQLite store, audit chain, queue, quotas, idempotency) with the CNN engine on the he
// worker pool and real SEAL, a tiny CNN signed into a bundle, the SDK's RemoteCnn — register →
// encrypt → infer → verify → decrypt — checked against the float64 reference; wrong keys, wrong
// ciphertexts and wrong model kinds refused with stable codes while the store stays intact; a remote
// tiled run equal to the in-process one; and no ciphertext bytes or results in the log.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RemoteCnn } from '../../src/client/cnn-client.ts';
import { imagePatches } from '../../src/client/cnn-tiles.ts';
import { BlindDxClient } from '../../src/client/http-client.ts';
import { classifyImageTiles } from '../../src/client/tiles.ts';
import { HeContext } from '../../src/he/context.ts';
import { encryptSymmetricSeeded, saveCiphertext } from '../../src/he/crypt.ts';
import { encodeSlots } from '../../src/he/encoder.ts';
import { Evaluator } from '../../src/he/evaluator.ts';
import { generateKeys, type KeySet } from '../../src/he/keys.ts';
import { encryptInput } from '../../src/nn/cnn/client.ts';
import { EncryptedCnn } from '../../src/nn/cnn/encrypted-executor.ts';
import type { CnnModel } from '../../src/nn/cnn/ir.ts';
import { planCnn } from '../../src/nn/cnn/planner.ts';
import { preprocessImage, referenceForward } from '../../src/nn/cnn/reference.ts';
import { classifyTilesStreamed } from '../../src/nn/cnn/tiles.ts';
import { MODEL_KIND_HEADER } from '../../src/protocol/cnn-layout.ts';
import { publicPart } from '../../src/protocol/ed25519.ts';
import { signModelBundle } from '../../src/protocol/model-bundle.ts';
import { encodeParts } from '../../src/protocol/parts-container.ts';
import { CONTENT_TYPE_BINARY, CONTENT_TYPE_PARTS, HEADER } from '../../src/protocol/wire.ts';
import { CnnEngine } from '../../src/server/engines/cnn-engine.ts';
import { buildCnnModelBundle } from '../../src/server/engines/cnn-model-bundle.ts';
import { ModelKindRouter } from '../../src/server/engines/model-kind-router.ts';
import { writeBundle } from '../../src/server/engines/split-model-bundle.ts';
import { type RunningService, startService } from '../../src/server/lifecycle.ts';
import { loggerOptions } from '../../src/server/logging.ts';
import { tinyColourCnn } from '../fixtures/cnn-models.ts';
import { EchoEngine } from '../fixtures/echo-engine.ts';
import { makePublisherKey, writeTestModel } from '../fixtures/model-bundles.ts';
import { loopbackConfig } from '../fixtures/test-service.ts';

// 2×5×5 input, conv 2→2 3×3/2 → degree-2 polynomial → dense 8→3: a protected plan at small size.
const model: CnnModel = { ...tinyColourCnn('tiny-cnn'), classes: ['a', 'b', 'c'] };

const image = (seed: number) => Array.from({ length: 50 }, (_, i) => (i * 37 + seed * 101) % 256);

/** Output protection floods each logit with σ ≈ 2^−9: 2e-2 relative (≥ 1 absolute) is ~10σ. */
const TOL = 2e-2;
const close = (got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol = TOL) => {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let k = 0; k < want.length; k++)
    assert.ok(
      Math.abs(got[k] - want[k]) < tol * Math.max(1, Math.abs(want[k])),
      `${what} logit ${k}: ${got[k]} vs ${want[k]}`,
    );
};

describe('encrypted CNN over HTTP with the CNN engine', () => {
  let dir: string;
  let svc: RunningService;
  let token = '';
  let sdk: BlindDxClient;
  let cnn: RemoteCnn;
  let goodKeys: KeySet;
  let cnnEngine: CnnEngine | undefined;
  const logLines: string[] = [];

  const post = (path: string, body: Uint8Array, headers: Record<string, string>) =>
    fetch(`${svc.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, ...headers },
      body: new Uint8Array(body),
    });
  const codeOf = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;
  const auditCount = async (action: string) =>
    (await svc.store.auditEntries()).filter((e) => e.action === action).length;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'blinddx-cnn-svc-'));
    const modelsDir = join(dir, 'models');
    mkdirSync(modelsDir);
    const key = await makePublisherKey(join(dir, 'publisher.pub.json'));
    writeFileSync(join(dir, 'tiny.json'), JSON.stringify(model));
    writeBundle(join(modelsDir, 'tiny-cnn'), await buildCnnModelBundle(join(dir, 'tiny.json'), key));
    // A split model (served here by the echo engine): the other model kind.
    const split = await signModelBundle(
      {
        client: {
          modelId: 'split-echo',
          version: '1.0.0',
          preset: 'test-preset',
          inputLayout: { kind: 'blinddx.split-head/1' },
          preprocessing: {},
          classes: ['negative', 'positive'],
          galoisSteps: [],
          needsRelinKeys: false,
          files: {},
        },
        server: { modelId: 'split-echo', version: '1.0.0', preset: 'test-preset', files: {} },
      },
      key,
    );
    writeTestModel(modelsDir, { modelId: 'split-echo', bundle: split, files: new Map() });
    const config = loopbackConfig(dir, { logLevel: 'info', limits: { maxBatch: 4 } });
    const engine = new ModelKindRouter({
      cnn: () => (cnnEngine = new CnnEngine({ workers: 1 })),
      'split-head': () => new EchoEngine(),
    });
    svc = await startService(config, {
      engine,
      onDevToken: (t) => (token = t),
      logger: { ...(loggerOptions('debug') as object), stream: { write: (s: string) => logLines.push(s) } },
    });
    sdk = new BlindDxClient({ baseUrl: svc.url, token, trustedModelKeys: [publicPart(key)] });
    cnn = await RemoteCnn.open(sdk, 'tiny-cnn');
  });

  after(async () => {
    cnn?.[Symbol.dispose]();
    await svc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the published model carries the client half of the plan only', async () => {
    const res = await fetch(`${svc.url}/v1/models/tiny-cnn`);
    const text = await res.text();
    const plan = planCnn(model);
    assert.deepEqual(cnn.plan, JSON.parse(JSON.stringify(plan.client)));
    assert.deepEqual(
      [...(JSON.parse(text).payload.galoisSteps as number[])].sort((a, b) => a - b),
      [...plan.client.galoisSteps].sort((a, b) => a - b),
    );
    assert.ok(cnn.plan.protection !== undefined, 'the served plan is protected');
    // No stage, weight or bias of the server half appears in what clients download.
    assert.ok(!text.includes('"stages"') && !text.includes('"weights"') && !text.includes('"giants"'));
    assert.ok(!text.includes(String(model.layers[3].op === 'dense' && model.layers[3].weight[5])));
  });

  test('register → infer → decrypt equals the float64 reference', async () => {
    // Keys made here once (they are the slow part at N=16384) and reused by the wrong-keys test.
    goodKeys = generateKeys(cnn.ctx, { relin: cnn.plan.relin, galoisSteps: cnn.plan.galoisSteps });
    const reg = await cnn.register(goodKeys);
    assert.match(reg.clientId, /^cl_[0-9a-f]{32}$/);
    for (let s = 0; s < 2; s++) {
      const r = await cnn.classify(image(s));
      const want = referenceForward(model, preprocessImage(model, image(s)));
      close(r.logits, want, `image ${s}`);
      let k = 0;
      for (let i = 1; i < want.length; i++) if (want[i] > want[k]) k = i;
      assert.equal(r.predicted, k, `image ${s}: decision`);
      assert.ok(Math.abs(r.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    }
    // A batch of 2 images in one request (parts container), and re-randomization: the same input
    // ciphertext twice gives different response bytes with the same logits.
    const ct = cnn.encrypt(image(7));
    const b = await sdk.infer({
      modelId: 'tiny-cnn',
      clientId: cnn.clientId!,
      inputs: [ct, ct],
      headers: { [MODEL_KIND_HEADER]: 'cnn' },
    });
    assert.equal(b.results.length, 2);
    assert.notDeepEqual(b.results[0], b.results[1]);
    const want = referenceForward(model, preprocessImage(model, image(7)));
    close(cnn.decrypt(b.results[0]), want, 'batch 0');
    close(cnn.decrypt(b.results[1]), want, 'batch 1');
  });

  test('wrong keys are refused with BAD_KEY_MATERIAL and register nothing', async () => {
    const before = await auditCount('client.registered');
    const register = async (m: Record<string, Uint8Array | undefined>) => {
      const parts = [
        { name: 'meta', bytes: new TextEncoder().encode(JSON.stringify({ modelId: 'tiny-cnn' })) },
        ...Object.entries(m)
          .filter(([, v]) => v !== undefined)
          .map(([name, bytes]) => ({ name, bytes: bytes! })),
      ];
      const res = await post('/v1/clients', encodeParts(parts), { 'content-type': CONTENT_TYPE_PARTS });
      assert.equal(res.status, 422);
      return codeOf(res);
    };
    const g = goodKeys.exportPublic();
    // Missing Galois keys, missing relin keys.
    assert.equal(await register({ publicKey: g.publicKey, relinKeys: g.relinKeys }), 'BAD_KEY_MATERIAL');
    assert.equal(await register({ publicKey: g.publicKey, galoisKeys: g.galoisKeys }), 'BAD_KEY_MATERIAL');
    // Galois keys for other steps than the plan's exact list: a step it does not use (3), or one missing.
    using extra = generateKeys(cnn.ctx, { galoisSteps: [3] });
    const e = extra.exportPublic();
    assert.equal(
      await register({ publicKey: g.publicKey, relinKeys: g.relinKeys, galoisKeys: e.galoisKeys }),
      'BAD_KEY_MATERIAL',
    );
    using fewer = generateKeys(cnn.ctx, { galoisSteps: cnn.plan.galoisSteps.slice(1) });
    assert.equal(
      await register({
        publicKey: g.publicKey,
        relinKeys: g.relinKeys,
        galoisKeys: fewer.exportPublic().galoisKeys,
      }),
      'BAD_KEY_MATERIAL',
    );
    // A public key of another parameter set.
    using other = await HeContext.create('ckks-8192-d2');
    using ok = generateKeys(other, {});
    assert.equal(
      await register({
        publicKey: ok.exportPublic().publicKey,
        relinKeys: g.relinKeys,
        galoisKeys: g.galoisKeys,
      }),
      'BAD_KEY_MATERIAL',
    );
    assert.equal(await auditCount('client.registered'), before, 'no client was registered');
    assert.equal((await svc.store.verifyAudit()).ok, true);
  });

  test('wrong ciphertexts are refused with BAD_CIPHERTEXT / BAD_REQUEST; the service keeps serving', async () => {
    const clientId = cnn.clientId!;
    const plan = cnn.plan;
    const infer = async (body: Uint8Array, contentType = CONTENT_TYPE_BINARY) => {
      const res = await post('/v1/infer/tiny-cnn', body, {
        'content-type': contentType,
        [HEADER.clientId]: clientId,
        [HEADER.idempotencyKey]: crypto.randomUUID(),
      });
      return { status: res.status, code: await codeOf(res) };
    };
    const good = cnn.encrypt(image(1));
    // Truncated, one byte flipped in the header, garbage.
    assert.deepEqual(await infer(good.subarray(0, good.length - 8)), { status: 422, code: 'BAD_CIPHERTEXT' });
    const flipped = new Uint8Array(good);
    flipped[0] ^= 0xff;
    assert.deepEqual(await infer(flipped), { status: 422, code: 'BAD_CIPHERTEXT' });
    // Another parameter set (the embedding flow's preset): wrong preset.
    {
      using other = await HeContext.create('ckks-8192-d2');
      using k = generateKeys(other, {});
      using pt = encodeSlots(other, new Float64Array(8), { period: 8 });
      assert.deepEqual(await infer(encryptSymmetricSeeded(k, pt)), { status: 422, code: 'BAD_CIPHERTEXT' });
    }
    // Right parameters, wrong level (one level down): not a fresh client input.
    {
      using keys = generateKeys(cnn.ctx, {});
      using ct = encryptInput(cnn.ctx, keys, plan, image(2));
      const ev = new Evaluator(cnn.ctx, keys);
      using low = ev.modSwitchTo(ct, ct.level - 1);
      assert.deepEqual(await infer(saveCiphertext(low)), { status: 422, code: 'BAD_CIPHERTEXT' });
    }
    // One bad input refuses the whole batch; more inputs than maxBatch (4) is a bad request.
    assert.deepEqual(
      await infer(
        encodeParts([
          { name: '0', bytes: good },
          { name: '1', bytes: good.subarray(1) },
        ]),
        CONTENT_TYPE_PARTS,
      ),
      { status: 422, code: 'BAD_CIPHERTEXT' },
    );
    assert.deepEqual(
      await infer(
        encodeParts(Array.from({ length: 5 }, (_, i) => ({ name: String(i), bytes: good }))),
        CONTENT_TYPE_PARTS,
      ),
      { status: 400, code: 'BAD_REQUEST' },
    );
    // Still serving, and the audit chain holds.
    close(
      (await cnn.classify(image(1))).logits,
      referenceForward(model, preprocessImage(model, image(1))),
      'after errors',
    );
    assert.equal((await svc.store.verifyAudit()).ok, true);
  });

  test('wrong model kind: WRONG_MODEL_KIND before anything is queued or charged', async () => {
    const accepted = await auditCount('infer.accepted');
    const ct = cnn.encrypt(image(3));
    for (const [model, kind] of [
      ['tiny-cnn', 'split-head'],
      ['split-echo', 'cnn'],
    ] as const) {
      const res = await post(`/v1/infer/${model}`, ct, {
        'content-type': CONTENT_TYPE_BINARY,
        [HEADER.clientId]: cnn.clientId!,
        [MODEL_KIND_HEADER]: kind,
      });
      assert.equal(res.status, 422);
      assert.equal(await codeOf(res), 'WRONG_MODEL_KIND');
    }
    await assert.rejects(RemoteCnn.open(sdk, 'split-echo'), { code: 'WRONG_MODEL_KIND' });
    assert.equal(await auditCount('infer.accepted'), accepted, 'nothing was admitted');
  });

  test('a remote tiled run of a 2×2 grid equals the in-process run', async () => {
    // A 12×11 two-channel image (the model's 2 input channels), resized to exactly 2×2 patches.
    const w = 11;
    const h = 12;
    const data = Uint8Array.from({ length: w * h * 2 }, (_, i) => (i * 53) % 256);
    const img = { data, width: w, height: h, channels: 2 };
    let progress = 0;
    const remote = await classifyImageTiles(model, img as never, {
      grid: { rows: 2, cols: 2 },
      remote: { cnn, concurrency: 2 },
      onPatch: (d) => {
        progress = d;
      },
    });
    assert.equal(progress, 4);
    assert.equal(remote.remote?.requests, 4);
    // The same patches in this process (same keys and context, the same protected plan locally).
    const { patches } = imagePatches(img as never, [2, 5, 5], { rows: 2, cols: 2 });
    using localCnn = new EncryptedCnn(cnn.ctx, goodKeys, planCnn(model).server);
    const local = classifyTilesStreamed(cnn.ctx, goodKeys, cnn.plan, localCnn, patches, 'max');
    assert.equal(remote.perPatch.length, 4);
    remote.perPatch.forEach((l, i) => {
      close(l, local.perPatch[i], `patch ${i} remote vs in-process`, 2 * TOL);
      close(l, remote.plain.perPatch[i], `patch ${i} remote vs float64`);
    });
    close(remote.aggregate, local.aggregate, 'aggregate remote vs in-process', 2 * TOL);
  });

  test('deleting a client drops its keys from every worker; its infer is then NOT_FOUND', async () => {
    assert.deepEqual(await cnnEngine!.cachedClients(), [1], 'the worker holds the client');
    const ct = cnn.encrypt(image(4));
    await sdk.deleteClient(cnn.clientId!);
    // The forget task was queued by DELETE before this count: the worker no longer holds the client.
    assert.deepEqual(await cnnEngine!.cachedClients(), [0], 'the worker dropped the client');
    const res = await post('/v1/infer/tiny-cnn', ct, {
      'content-type': CONTENT_TYPE_BINARY,
      [HEADER.clientId]: cnn.clientId!,
      [MODEL_KIND_HEADER]: 'cnn',
    });
    assert.equal(res.status, 404);
    assert.equal(await codeOf(res), 'NOT_FOUND');
  });

  test('nothing logged carries ciphertext bytes or results', async () => {
    const text = logLines.join('');
    assert.ok(logLines.length > 10, 'the service logged');
    assert.ok(text.includes('inference completed'));
    // Long base64 / hex runs would be serialized bytes; logits would be decimals in the log.
    assert.ok(!/[A-Za-z0-9+/]{200,}/.test(text), 'no long base64 run');
    assert.ok(!/"(results?|inputs|logits|body|payload|galoisKeys|publicKey)"\s*:\s*[[{"]/.test(text));
  });
});

// The embedding flow end to end over real HTTP on loopback: the real service with the SEAL head
// engine, a signed split-model bundle, the client SDK — register → encrypt → infer → verify →
// decrypt — checked against the float64 head; hostile ciphertexts and keys refused with stable
// codes while the service stays healthy; bad bundle signatures refused on both sides.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BlindDxClient } from '../../src/client/http-client.ts';
import {
  type ClientIdCache,
  diagnoseEmbedding,
  memoryClientIdCache,
  openSplitHeadModel,
  type SplitHeadModel,
} from '../../src/client/split-head-flow.ts';
import { HeContext } from '../../src/he/context.ts';
import { encryptSymmetric, saveCiphertext } from '../../src/he/crypt.ts';
import { encodeCoeffs } from '../../src/he/encoder.ts';
import { Evaluator } from '../../src/he/evaluator.ts';
import { generateKeys, type KeySet } from '../../src/he/keys.ts';
import { encryptEmbedding } from '../../src/nn/coeff-head-client.ts';
import { loadMedMnist, type MedMnistName } from '../../src/nn/data/medmnist.node.ts';
import { computeEmbeddings } from '../../src/nn/eval/embeddings.node.ts';
import { evaluateHeadPlain, type LinearHeadSpec, probabilities } from '../../src/nn/head.ts';
import { loadSplitModelDir } from '../../src/nn/train/evaluate.node.ts';
import { canonicalJson } from '../../src/protocol/canonical-json.ts';
import { generateSigningKey, publicPart } from '../../src/protocol/ed25519.ts';
import { BlindDxError } from '../../src/protocol/errors.ts';
import { encodeParts } from '../../src/protocol/parts-container.ts';
import { CONTENT_TYPE_BINARY, CONTENT_TYPE_PARTS, HEADER } from '../../src/protocol/wire.ts';
import { SealHeadEngine } from '../../src/server/engines/seal-head-engine.ts';
import { buildSplitModelBundle, writeBundle } from '../../src/server/engines/split-model-bundle.ts';
import { loadModelsDir } from '../../src/server/model-registry.ts';
import { type SealTestService, startSealService } from '../fixtures/seal-service.ts';
import { testSplitModelDir } from '../fixtures/split-model.ts';

const SCALE_OFFSET = 73; // f64 scale in a SEAL ciphertext serialization (see seal-format.ts)

describe('embedding flow over HTTP with the SEAL head engine', () => {
  let modelDir: string;
  let svc: SealTestService;
  let ctx: HeContext;
  let keys: KeySet;
  let sdk: BlindDxClient;
  let model: SplitHeadModel;
  let head: LinearHeadSpec;
  let embeddings: { n: number; d: number; data: Float32Array };
  let clientIds: ClientIdCache;

  before(async () => {
    modelDir = await testSplitModelDir();
    svc = await startSealService(modelDir);
    ctx = await HeContext.create('ckks-8192-coeff');
    keys = generateKeys(ctx, {});
    sdk = new BlindDxClient({ baseUrl: svc.url, token: svc.token, trustedModelKeys: [svc.trusted] });
    const split = loadSplitModelDir(modelDir);
    head = split.head as LinearHeadSpec;
    const ds = loadMedMnist(split.manifest.dataset as MedMnistName, 'test');
    embeddings = await computeEmbeddings(split.backbone, split.manifest.preprocessing, ds, { limit: 6 });
    model = await openSplitHeadModel(sdk, svc.built.modelId);
    clientIds = memoryClientIdCache();
  });
  after(async () => {
    await svc?.stop();
    keys?.[Symbol.dispose]();
    ctx?.[Symbol.dispose]();
  });

  const embedding = (i: number) => embeddings.data.subarray(i * embeddings.d, (i + 1) * embeddings.d);

  /** POST a raw body to the infer route of our registered client. */
  async function postInfer(body: Uint8Array, headers: Record<string, string> = {}) {
    const clientId = clientIds.get(model.modelId);
    assert.ok(clientId, 'registered first');
    const res = await fetch(`${svc.url}/v1/infer/${model.modelId}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${svc.token}`,
        'content-type': CONTENT_TYPE_BINARY,
        [HEADER.clientId]: clientId,
        ...headers,
      },
      body: new Uint8Array(body),
    });
    const text = await res.text();
    return {
      status: res.status,
      body: JSON.parse(text || '{}') as { error?: { code: string; message: string } },
    };
  }

  test('register → encrypt → infer → verify → decrypt equals the float64 head within 1e-6', async () => {
    let maxDelta = 0;
    for (let i = 0; i < embeddings.n; i++) {
      const x = embedding(i);
      const r = await diagnoseEmbedding({ sdk, model, keys, clientIds, embedding: x });
      const plain = probabilities(head, evaluateHeadPlain(head, x));
      assert.equal(r.probabilities.length, plain.length);
      for (let j = 0; j < plain.length; j++)
        maxDelta = Math.max(maxDelta, Math.abs(r.probabilities[j] - plain[j]));
      // The SDK verified the server's signature; the statement names the verified bundle's model.
      assert.equal(r.statement.modelDigest, model.modelDigest);
      assert.equal(r.statement.modelId, model.modelId);
      // Public key uploaded once, then the cached client id is reused.
      assert.equal(r.bytes.keyUpload > 0, i === 0, `image ${i}: key upload ${r.bytes.keyUpload}`);
      assert.ok(r.bytes.up < 256 * 1024, `bytes up ${r.bytes.up}`);
    }
    assert.ok(maxDelta <= 1e-6, `max |Δp| ${maxDelta}`);
  });

  test('hostile ciphertexts over HTTP get 422 BAD_CIPHERTEXT naming the he code; service stays healthy', async () => {
    const good = encryptEmbedding(keys, model.layout.plan, embedding(0));
    const patched = (f: (b: Uint8Array, v: DataView) => void) => {
      const b = new Uint8Array(good);
      f(b, new DataView(b.buffer));
      return b;
    };
    // Level 0 holds one 60-bit prime: a smaller scale, so only the level is wrong.
    using pt = encodeCoeffs(ctx, embedding(0), { scale: 2 ** 20 });
    using fresh = encryptSymmetric(keys, pt);
    using low = new Evaluator(ctx).modSwitchTo(fresh, 0);
    using wrongScalePt = encodeCoeffs(ctx, embedding(0), {
      scale: 2 ** (model.layout.plan.inputScaleBits - 1),
    });
    using wrongScale = encryptSymmetric(keys, wrongScalePt);
    const cases: [string, Uint8Array, string][] = [
      ['truncated', good.subarray(0, good.length - 100), 'HE_MALFORMED'],
      ['NaN scale', patched((_, v) => v.setFloat64(SCALE_OFFSET, Number.NaN, true)), 'HE_BAD_SCALE'],
      ['zlib-compressed flag', patched((b) => void (b[5] = 1)), 'HE_COMPRESSED'],
      ['wrong level', saveCiphertext(low), 'HE_WRONG_LEVEL'],
      ['wrong scale', saveCiphertext(wrongScale), 'HE_BAD_SCALE'],
      ['not SEAL at all', new TextEncoder().encode('x'.repeat(4096)), 'HE_BAD_MAGIC'],
      ['too large', new Uint8Array(good.length * 3), 'HE_TOO_LARGE'],
    ];
    // Make sure the client id exists even when this test runs alone.
    if (clientIds.get(model.modelId) === undefined)
      await diagnoseEmbedding({ sdk, model, keys, clientIds, embedding: embedding(0) });
    for (const [name, bytes, heCode] of cases) {
      const r = await postInfer(bytes);
      assert.equal(r.status, 422, `${name}: status ${r.status} ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error?.code, 'BAD_CIPHERTEXT', name);
      assert.match(r.body.error?.message ?? '', new RegExp(heCode), name);
    }
    // A batch with one bad part is refused whole, naming the part.
    const batch = encodeParts([
      { name: '0', bytes: good },
      { name: '1', bytes: good.subarray(0, 200) },
    ]);
    const rb = await postInfer(batch, { 'content-type': CONTENT_TYPE_PARTS });
    assert.equal(rb.status, 422);
    assert.match(rb.body.error?.message ?? '', /input 1/);
    // Compressed transport encoding is refused before any parsing.
    const rz = await postInfer(good, { 'content-encoding': 'gzip' });
    assert.equal(rz.status, 415);
    assert.equal(rz.body.error?.code, 'UNSUPPORTED_MEDIA_TYPE');
    // Still healthy, and still computing correctly.
    const health = await fetch(`${svc.url}/v1/health`);
    assert.equal(health.status, 200);
    const r = await diagnoseEmbedding({ sdk, model, keys, clientIds, embedding: embedding(1) });
    const plain = probabilities(head, evaluateHeadPlain(head, embedding(1)));
    assert.ok(Math.abs(r.probabilities[1] - plain[1]) <= 1e-6);
    assert.equal(svc.engine.stats().workerRestarts, 0);
  });

  test('key material: extra keys and bad public keys are refused with BAD_KEY_MATERIAL', async () => {
    const m = keys.exportPublic();
    const post = async (parts: { name: string; bytes: Uint8Array }[]) => {
      const res = await fetch(`${svc.url}/v1/clients`, {
        method: 'POST',
        headers: { authorization: `Bearer ${svc.token}`, 'content-type': CONTENT_TYPE_PARTS },
        body: new Uint8Array(encodeParts(parts)),
      });
      return {
        status: res.status,
        body: (await res.json()) as { error?: { code: string; message: string } },
      };
    };
    const meta = {
      name: 'meta',
      bytes: new TextEncoder().encode(JSON.stringify({ modelId: model.modelId })),
    };
    using rk = generateKeys(ctx, { relin: true });
    const withRelin = await post([
      meta,
      { name: 'publicKey', bytes: m.publicKey },
      { name: 'relinKeys', bytes: rk.exportPublic().relinKeys! },
    ]);
    assert.equal(withRelin.status, 422);
    assert.equal(withRelin.body.error?.code, 'BAD_KEY_MATERIAL');
    const bad = new Uint8Array(m.publicKey);
    new DataView(bad.buffer).setFloat64(SCALE_OFFSET, Number.NaN, true);
    const badPk = await post([meta, { name: 'publicKey', bytes: bad }]);
    assert.equal(badPk.status, 422);
    assert.equal(badPk.body.error?.code, 'BAD_KEY_MATERIAL');
    assert.match(badPk.body.error?.message ?? '', /HE_/);
    const truncated = await post([meta, { name: 'publicKey', bytes: m.publicKey.subarray(0, 1000) }]);
    assert.equal(truncated.status, 422);
    assert.equal(truncated.body.error?.code, 'BAD_KEY_MATERIAL');
  });

  test('bundles with a bad signature or an inconsistent plan are refused', async () => {
    // Client side: a bundle signed by a key the client does not trust.
    const stranger = new BlindDxClient({
      baseUrl: svc.url,
      token: svc.token,
      trustedModelKeys: [publicPart(await generateSigningKey())],
    });
    await assert.rejects(stranger.getModel(model.modelId), (e: unknown) => {
      assert.ok(e instanceof BlindDxError);
      assert.equal(e.code, 'MODEL_SIGNATURE_INVALID');
      return true;
    });
    // Server side: an edited client part (signature no longer matches) stops the load.
    const dir = join(svc.dir, 'bad-models');
    const tampered = join(dir, 'tampered');
    mkdirSync(tampered, { recursive: true });
    writeBundle(tampered, svc.built);
    const client = JSON.parse(readFileSync(join(tampered, 'client.json'), 'utf8'));
    client.payload.classes = [...client.payload.classes].reverse();
    writeFileSync(join(tampered, 'client.json'), JSON.stringify(client));
    const engine = new SealHeadEngine({ workers: 1 });
    try {
      await assert.rejects(loadModelsDir(dir, [svc.trusted], engine), (e: unknown) => {
        assert.equal((e as BlindDxError).code, 'MODEL_SIGNATURE_INVALID');
        return true;
      });
      // Properly signed, but plan.json is not the plan of this head: the engine refuses it.
      const b = await buildSplitModelBundle(modelDir, svc.publisherKey, { modelId: 'wrong-plan' });
      const plan = JSON.parse(new TextDecoder().decode(b.serverFiles.get('plan.json')));
      plan.floodBits -= 20;
      const files = new Map(b.serverFiles);
      files.set('plan.json', new TextEncoder().encode(canonicalJson(plan)));
      const { digestFiles, signModelBundle } = await import('../../src/protocol/model-bundle.ts');
      const { format: _c, serverDigest: _s, ...clientPart } = b.bundle.client.payload;
      const { format: _f, ...serverPart } = b.bundle.server.payload;
      const resigned = await signModelBundle(
        { client: clientPart, server: { ...serverPart, files: await digestFiles(files) } },
        svc.publisherKey,
      );
      const dir2 = join(svc.dir, 'bad-plan');
      writeBundle(join(dir2, 'wrong-plan'), { ...b, bundle: resigned, serverFiles: files });
      await assert.rejects(loadModelsDir(dir2, [svc.trusted], engine), (e: unknown) => {
        assert.equal((e as BlindDxError).code, 'MODEL_BUNDLE_MISMATCH');
        assert.match((e as Error).message, /plan/);
        return true;
      });
    } finally {
      await engine.close();
    }
  });
});

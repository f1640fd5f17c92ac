// The tiled flow's packed mode over real HTTP on loopback: a window-packed CNN bundle (3 patches per
// request) served by the CNN engine with real SEAL; the SDK's RemotePackedCnn through
// classifyImageTiles({ packed, remote }) on a 2×2 grid (two requests) equals the in-process packed
// run and the float64 twin; wrong input counts, wrong content type and wrong model kind refused.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { tilesCommand } from '../../src/apps/cli/commands/tiles.ts';
import { RemoteCnn } from '../../src/client/cnn-client.ts';
import { RemotePackedCnn } from '../../src/client/cnn-packed-client.ts';
import { BlindDxClient } from '../../src/client/http-client.ts';
import { classifyImageTiles } from '../../src/client/tiles.ts';
import { generateKeys } from '../../src/he/keys.ts';
import type { CnnModel } from '../../src/nn/cnn/ir.ts';
import { encryptWindowInputsSeeded } from '../../src/nn/cnn/window-packed-he.ts';
import { MODEL_KIND_HEADER } from '../../src/protocol/cnn-layout.ts';
import { publicPart } from '../../src/protocol/ed25519.ts';
import { encodeParts } from '../../src/protocol/parts-container.ts';
import { CONTENT_TYPE_BINARY, CONTENT_TYPE_PARTS, HEADER } from '../../src/protocol/wire.ts';
import { CnnEngine } from '../../src/server/engines/cnn-engine.ts';
import { buildCnnModelBundle } from '../../src/server/engines/cnn-model-bundle.ts';
import { ModelKindRouter } from '../../src/server/engines/model-kind-router.ts';
import { writeBundle } from '../../src/server/engines/split-model-bundle.ts';
import { type RunningService, startService } from '../../src/server/lifecycle.ts';
import { makePublisherKey } from '../fixtures/model-bundles.ts';
import { loopbackConfig } from '../fixtures/test-service.ts';

const wave = (n: number, k: number) => Array.from({ length: n }, (_, i) => Math.sin(i * k) * 0.5);

const model: CnnModel = {
  format: 'blinddx-cnn',
  version: 1,
  name: 'tiny-cnn',
  inputShape: [3, 5, 5],
  preprocessing: { scale: 1 / 255, mean: [0.5, 0.4, 0.45], std: [0.25, 0.3, 0.2] },
  layers: [
    {
      op: 'conv2d',
      inChannels: 3,
      outChannels: 2,
      kernel: [3, 3],
      stride: [2, 2],
      padding: [0, 0],
      weight: wave(54, 1.1),
      bias: [0.1, -0.2],
    },
    { op: 'poly', coeffs: [0.1, 0.3, 0.5] },
    { op: 'flatten' },
    { op: 'dense', inFeatures: 8, outFeatures: 3, weight: wave(24, 0.7), bias: [0, 0.5, -0.5] },
  ],
};

/** Protected responses carry a flood of σ ≈ 2^−11 per logit: 2e-2 relative (≥ 1 absolute) is ample. */
const TOL = 2e-2;
const close = (got: ArrayLike<number>, want: ArrayLike<number>, what: string) => {
  for (let k = 0; k < want.length; k++)
    assert.ok(
      Math.abs(got[k] - want[k]) < TOL * Math.max(1, Math.abs(want[k])),
      `${what} logit ${k}: ${got[k]} vs ${want[k]}`,
    );
};

describe('window-packed CNN tiles over HTTP', () => {
  let dir: string;
  let svc: RunningService;
  let token = '';
  let sdk: BlindDxClient;
  let cnn: RemotePackedCnn;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'blinddx-cnn-packed-'));
    const modelsDir = join(dir, 'models');
    mkdirSync(modelsDir);
    const key = await makePublisherKey(join(dir, 'publisher.pub.json'));
    writeFileSync(join(dir, 'tiny.json'), JSON.stringify(model));
    const built = await buildCnnModelBundle(join(dir, 'tiny.json'), key, { packedPatches: 3 });
    assert.equal(built.modelId, 'tiny-cnn.packed');
    writeBundle(join(modelsDir, built.modelId), built);
    const config = loopbackConfig(dir);
    svc = await startService(config, {
      engine: new ModelKindRouter({ cnn: () => new CnnEngine({ workers: 1 }) }),
      onDevToken: (t) => (token = t),
    });
    sdk = new BlindDxClient({ baseUrl: svc.url, token, trustedModelKeys: [publicPart(key)] });
    cnn = await RemotePackedCnn.open(sdk, 'tiny-cnn.packed');
    await cnn.register();
  });

  after(async () => {
    cnn?.[Symbol.dispose]();
    await svc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('2×2 grid in two packed requests = the in-process packed run = float64', async () => {
    const w = 11;
    const h = 12;
    const data = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 53) % 256);
    const img = { data, width: w, height: h, channels: 3 } as never;
    let progress = 0;
    const remote = await classifyImageTiles(model, img, {
      grid: { rows: 2, cols: 2 },
      packed: true,
      remote: { cnn },
      onPatch: (d) => {
        progress = d;
      },
    });
    assert.equal(remote.mode, 'packed');
    assert.equal(remote.remote?.requests, 2);
    assert.equal(progress, 4);
    const local = await classifyImageTiles(model, img, { grid: { rows: 2, cols: 2 }, packed: true });
    remote.perPatch.forEach((l, i) => {
      close(l, local.perPatch[i], `patch ${i} remote vs in-process`);
      close(l, remote.plain.perPatch[i], `patch ${i} remote vs float64`);
    });
    close(remote.aggregate, remote.plain.aggregate, 'aggregate');
  });

  test('blinddx tiles --server --packed --json: the CLI runs the same flow and deletes its client', async () => {
    const w = 11;
    const h = 12;
    const png = join(dir, 'rgb.png');
    await sharp(Buffer.from(Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 53) % 256)), {
      raw: { width: w, height: h, channels: 3 },
    })
      .png()
      .toFile(png);
    const modelDir = join(dir, 'tiny');
    mkdirSync(modelDir);
    writeFileSync(join(modelDir, 'model.json'), JSON.stringify(model));
    const lines: string[] = [];
    const log = console.log;
    const err = console.error;
    const errors: string[] = [];
    console.log = (x: string) => lines.push(x);
    console.error = (x: string) => errors.push(x);
    let code: number | undefined;
    try {
      code = await tilesCommand.run({
        values: {
          model: modelDir,
          server: svc.url,
          token,
          trust: [join(dir, 'publisher.pub.json')],
          packed: true,
          grid: '2x2',
          json: true,
        },
        positionals: [png],
      });
    } finally {
      console.log = log;
      console.error = err;
    }
    assert.equal(code, 0, errors.join('\n'));
    const out = JSON.parse(lines.join(''));
    assert.equal(out.mode, 'packed');
    assert.equal(out.modelId, 'tiny-cnn.packed');
    assert.equal(out.requests, 2);
    out.aggregate.forEach((v: number, k: number) => {
      assert.ok(Math.abs(v - out.plainAggregate[k]) < TOL * Math.max(1, Math.abs(v)), `class ${k}`);
    });
    const deleted = (await svc.store.auditEntries()).filter((e) => e.action === 'client.deleted');
    assert.equal(deleted.length, 1, 'the CLI deleted the client it registered');
  });

  test('wrong input count, content type and model kind are refused with stable codes', async () => {
    const L = cnn.layout;
    using k = generateKeys(cnn.ctx, {});
    const inputs = encryptWindowInputsSeeded(cnn.ctx, k, L, [Array.from({ length: 75 }, (_, i) => i)]);
    const send = async (body: Uint8Array, contentType: string, kind?: string) => {
      const res = await fetch(`${svc.url}/v1/infer/tiny-cnn.packed`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': contentType,
          [HEADER.clientId]: cnn.clientId!,
          ...(kind === undefined ? {} : { [MODEL_KIND_HEADER]: kind }),
        },
        body: new Uint8Array(body),
      });
      return { status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code };
    };
    const parts = (list: Uint8Array[]) => encodeParts(list.map((bytes, i) => ({ name: String(i), bytes })));
    const wrongCount = L.inputs > 1 ? inputs.slice(1) : [inputs[0], inputs[0]];
    assert.deepEqual(await send(parts(wrongCount), CONTENT_TYPE_PARTS), { status: 400, code: 'BAD_REQUEST' });
    assert.deepEqual(await send(inputs[0], CONTENT_TYPE_BINARY), { status: 400, code: 'BAD_REQUEST' });
    const bad = [...inputs];
    bad[0] = bad[0].subarray(0, bad[0].length - 4);
    assert.deepEqual(await send(parts(bad), CONTENT_TYPE_PARTS), { status: 422, code: 'BAD_CIPHERTEXT' });
    assert.deepEqual(await send(parts(inputs), CONTENT_TYPE_PARTS, 'cnn'), {
      status: 422,
      code: 'WRONG_MODEL_KIND',
    });
    await assert.rejects(RemoteCnn.open(sdk, 'tiny-cnn.packed'), { code: 'WRONG_MODEL_KIND' });
    assert.equal((await svc.store.verifyAudit()).ok, true);
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tinyColourCnn } from '../../../test/fixtures/cnn-models.ts';
import { HeContext } from '../../he/context.ts';
import { generateKeys } from '../../he/keys.ts';
import { EncryptedCnn } from './encrypted-executor.ts';
import { planCnn } from './planner.ts';
import {
  aggregateLogits,
  classifyTilesPacked,
  classifyTilesPlain,
  classifyTilesStreamed,
  cutTiles,
  interleavedToPlanar,
  parseGridSpec,
  planTileGrid,
  resizePlanar,
  toChannels,
} from './tiles.ts';
import { planWindowPacked } from './window-packed.ts';
import { WindowPackedServer } from './window-packed-he.ts';

const model = tinyColourCnn('tiles');

test('grid: centred crop, row-major CHW patches, parse and errors', () => {
  assert.deepEqual(parseGridSpec('7x7'), { rows: 7, cols: 7 });
  assert.throws(() => parseGridSpec('3by3'), { code: 'NN_INVALID_ARGUMENT' });
  const g = planTileGrid({ height: 224, width: 224 }, { height: 32, width: 32 });
  assert.deepEqual([g.rows, g.cols, g.offsetY, g.offsetX], [7, 7, 0, 0]);
  const g2 = planTileGrid({ height: 12, width: 11 }, { height: 5, width: 5 }, { rows: 2, cols: 2 });
  assert.deepEqual([g2.offsetY, g2.offsetX], [1, 0]);
  assert.throws(() => planTileGrid({ height: 9, width: 9 }, { height: 5, width: 5 }, { rows: 2, cols: 1 }), {
    code: 'NN_INVALID_ARGUMENT',
  });
  // 2 channels, 4×4, values encode (c, y, x).
  const data = Array.from({ length: 32 }, (_, i) => i);
  const tiles = cutTiles(
    { channels: 2, height: 4, width: 4, data },
    planTileGrid({ height: 4, width: 4 }, { height: 2, width: 2 }),
  );
  assert.equal(tiles.length, 4);
  assert.deepEqual([...tiles[1]], [2, 3, 6, 7, 18, 19, 22, 23]);
  assert.deepEqual([...tiles[2]], [8, 9, 12, 13, 24, 25, 28, 29]);
  const up = resizePlanar({ channels: 1, height: 2, width: 2, data: [0, 4, 8, 12] }, 4, 4);
  assert.deepEqual(Array.from(up.data).slice(0, 4), [0, 1, 3, 4]);
  assert.deepEqual(Array.from(resizePlanar(up, 2, 2).data), [1.5, 4.5, 7.5, 10.5]);
  assert.deepEqual(
    Array.from(toChannels({ channels: 3, height: 1, width: 1, data: [3, 6, 9] }, 1).data),
    [6],
  );
  const planar = interleavedToPlanar([1, 2, 3, 4, 5, 6], 2, 1, 3);
  assert.deepEqual(Array.from(planar.data), [1, 4, 2, 5, 3, 6]);
  assert.deepEqual(
    [
      ...aggregateLogits([
        [1, 5],
        [3, -1],
      ]),
    ],
    [3, 5],
  );
  assert.deepEqual(
    [
      ...aggregateLogits(
        [
          [1, 5],
          [3, -1],
        ],
        'mean',
      ),
    ],
    [2, 2],
  );
});

test('tiles under encryption, streamed and packed, match the float64 aggregate', async () => {
  const image = {
    channels: 2,
    height: 12,
    width: 11,
    data: Array.from({ length: 2 * 12 * 11 }, (_, i) => (i * 37) % 256),
  };
  const grid = planTileGrid(image, { height: 5, width: 5 }, { rows: 2, cols: 2 });
  const patches = cutTiles(image, grid);
  // Packed: the window-packed layout, protected (N=16384); 3 patches per request, so the 4
  // patches take two requests. One server for both aggregations.
  const wp = planWindowPacked(model, { patches: 3 });
  using wctx = await HeContext.create(wp.chain.literal);
  using wkeys = generateKeys(wctx, { relin: true, galoisSteps: wp.galoisSteps });
  using server = new WindowPackedServer(wctx, wkeys, wp);
  for (const how of ['max', 'mean'] as const) {
    const want = classifyTilesPlain(model, patches, how);
    // Streamed and packed responses are flooded (output protection, σ ≈ 2^−9 per logit).
    const close = (got: ArrayLike<number>, exp: ArrayLike<number>, what: string, tol = 1e-3) => {
      for (let k = 0; k < exp.length; k++)
        assert.ok(
          Math.abs(got[k] - exp[k]) < tol * Math.max(1, Math.abs(exp[k])),
          `${what} logit ${k}: ${got[k]} vs ${exp[k]}`,
        );
    };
    // Streamed: the latency plan, one ciphertext per patch.
    const plan = planCnn(model);
    {
      using ctx = await HeContext.create(plan.client.params);
      using keys = generateKeys(ctx, { relin: plan.client.relin, galoisSteps: plan.client.galoisSteps });
      using cnn = new EncryptedCnn(ctx, keys, plan.server);
      let seen = 0;
      const got = classifyTilesStreamed(ctx, keys, plan.client, cnn, patches, how, (d) => {
        seen = d;
      });
      assert.equal(seen, 4);
      got.perPatch.forEach((l, i) => {
        close(l, want.perPatch[i], `streamed ${how} patch ${i}`, 2e-2);
      });
      close(got.aggregate, want.aggregate, `streamed ${how} aggregate`, 2e-2);
    }
    {
      const got = classifyTilesPacked(wctx, wkeys, server, patches, how);
      assert.equal(got.perPatch.length, 4);
      got.perPatch.forEach((l, i) => {
        close(l, want.perPatch[i], `packed ${how} patch ${i}`, 5e-3);
      });
      close(got.aggregate, want.aggregate, `packed ${how} aggregate`, 5e-3);
    }
  }
});

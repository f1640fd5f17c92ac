// `blinddx tiles --server <url>`: the tiled flow against the service. Keys are made here (the
// secret key never leaves this process), every patch is encrypted here and sent as its own request
// (streamed, bounded parallelism) or, with --packed, up to the window-packed layout's patches per
// request (model `<id>.packed`); the service runs the CNN, and the per-patch logits are decrypted
// and aggregated here. When the model's IR is available locally, its float64 twin is printed too.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { RemoteCnn } from '../../../client/cnn-client.ts';
import { RemotePackedCnn } from '../../../client/cnn-packed-client.ts';
import { classifyImageTilesRemote } from '../../../client/cnn-tiles.ts';
import { BlindDxClient } from '../../../client/http-client.ts';
import { type ImageInput, readImageInput } from '../../../client/node/image-input.node.ts';
import { classifyImageTiles } from '../../../client/tiles.ts';
import { type CnnModel, parseCnnModel } from '../../../nn/cnn/ir.ts';
import { argmax } from '../../../nn/cnn/results-eval.ts';
import {
  parseGridSpec,
  type TileAggregation,
  type TileGrid,
  type TileResult,
} from '../../../nn/cnn/tiles.ts';
import { failureLine } from '../command.ts';
import { trustedPublisherKeys } from './diagnose.ts';

/** Options of `blinddx tiles` that only the remote flow reads. */
export const REMOTE_TILE_OPTIONS = {
  server: { type: 'string' },
  token: { type: 'string' },
  trust: { type: 'string', multiple: true },
  concurrency: { type: 'string' },
} as const;

/** `--model` as a local CNN folder (its model.json: server id = its name, float64 twin) or a server id. */
function _model(spec: string): { modelId: string; local: CnnModel | undefined } {
  for (const dir of [spec, resolve('models', spec)]) {
    const f = resolve(dir, 'model.json');
    if (!existsSync(f)) continue;
    try {
      const local = parseCnnModel(JSON.parse(readFileSync(f, 'utf8')));
      return { modelId: dir === spec && spec.includes('/') ? local.name : spec, local };
    } catch {}
  }
  return { modelId: spec, local: undefined };
}

/**
 * Prints the per-patch decisions (row-major), the aggregate decision and, given the float64 twin,
 * how far the encrypted aggregate is from it (shared by the in-process and the remote flow).
 */
export function printTileDecisions(
  r: TileResult & { readonly grid: TileGrid },
  plain: TileResult | undefined,
  how: TileAggregation,
  cls: (k: number) => string,
): void {
  console.log('\nper-patch decisions (row-major):');
  for (let row = 0; row < r.grid.rows; row++) {
    console.log(
      `  ${r.perPatch
        .slice(row * r.grid.cols, (row + 1) * r.grid.cols)
        .map((l) => cls(argmax(l)).padStart(3))
        .join(' ')}`,
    );
  }
  const k = argmax(r.aggregate);
  console.log(`\n${how} aggregate → class ${cls(k)} (logit ${r.aggregate[k].toFixed(3)})`);
  if (plain) {
    let d = 0;
    r.aggregate.forEach((x, i) => {
      d = Math.max(d, Math.abs(x - plain.aggregate[i]));
    });
    console.log(
      `encrypted vs plaintext aggregate: max |Δlogit| ${d.toExponential(2)}, same decision: ${k === argmax(plain.aggregate) ? 'yes' : 'no'}`,
    );
  }
}

/** Runs the remote tiled flow; returns the exit code. */
export async function runTilesRemote(a: {
  server: string;
  values: Record<string, unknown>;
  image: string;
  model: string;
  how: TileAggregation;
}): Promise<number> {
  const v = a.values;
  const token = (v.token as string | undefined) ?? process.env.BLINDDX_TOKEN;
  if (token === undefined) {
    console.error('blinddx tiles: give the organisation token with --token or $BLINDDX_TOKEN');
    return 2;
  }
  const concurrency = v.concurrency === undefined ? 2 : Number(v.concurrency);
  if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > 16) {
    console.error('blinddx tiles: --concurrency expects an integer 1…16');
    return 2;
  }
  const trusted = await trustedPublisherKeys((v.trust as string[] | undefined) ?? []);
  if (trusted.note !== undefined) process.stderr.write(`note: ${trusted.note}\n`);
  if (trusted.keys.length === 0) {
    console.error('blinddx tiles: no trusted publisher key; pass --trust <publisher.pub.json>');
    return 2;
  }
  const packed = v.packed === true;
  const found = _model(a.model);
  const local = found.local;
  // The packed variant of a served CNN is its own model (own parameters and keys): `<id>.packed`.
  const modelId = packed && !found.modelId.endsWith('.packed') ? `${found.modelId}.packed` : found.modelId;
  const grid = v.grid === undefined ? undefined : parseGridSpec(v.grid as string);
  let input: ImageInput;
  try {
    input = await readImageInput(a.image);
  } catch (e) {
    console.error(failureLine('tiles', e));
    return 1;
  }
  const http = new BlindDxClient({ baseUrl: a.server, token, trustedModelKeys: trusted.keys });
  const onPatch = (d: number, n: number) => {
    if (process.stderr.isTTY) process.stderr.write(`\rpatch ${d}/${n}${d === n ? '\n' : ''}`);
  };
  let cnn: RemoteCnn | RemotePackedCnn | undefined;
  try {
    cnn = packed ? await RemotePackedCnn.open(http, modelId) : await RemoteCnn.open(http, modelId);
    const t0 = performance.now();
    const reg = await cnn.register();
    const registerMs = performance.now() - t0;
    process.stderr.write(
      `${input.source}: model ${modelId} on ${a.server}, keys registered (${(reg.bytes / 1e6).toFixed(1)} MB), ${packed ? `window-packed, ${(cnn as RemotePackedCnn).layout.patches} patches per request` : `streamed, ${concurrency} in flight`}…\n`,
    );
    const twin = local !== undefined && cnn.inputShape?.join() === local.inputShape.join();
    const opts = { ...(grid ? { grid } : {}), aggregate: a.how, onPatch };
    const r = twin
      ? await classifyImageTiles(local, input.image, { ...opts, packed, remote: { cnn, concurrency } })
      : await classifyImageTilesRemote(cnn, input.image, { ...opts, concurrency });
    const plain = 'plain' in r ? r.plain : undefined;
    const stats = r.remote!;
    if (v.json === true) {
      console.log(
        JSON.stringify({
          grid: `${r.grid.rows}x${r.grid.cols}`,
          mode: packed ? 'packed' : 'streamed',
          server: a.server,
          modelId,
          perPatch: r.perPatch.map((l) => Array.from(l)),
          aggregate: Array.from(r.aggregate),
          ...(plain ? { plainAggregate: Array.from(plain.aggregate) } : {}),
          ms: Math.round(r.ms),
          registerMs: Math.round(registerMs),
          requests: stats.requests,
          bytesUp: stats.bytesUp,
          bytesDown: stats.bytesDown,
        }),
      );
      return 0;
    }
    printTileDecisions(r, plain, a.how, (k) => cnn?.classes[k] ?? String(k));
    console.log(
      `${r.perPatch.length} patches in ${(r.ms / 1000).toFixed(2)} s (encrypt, ${stats.requests} requests, decrypt; keys registered in ${(registerMs / 1000).toFixed(2)} s), up ${(stats.bytesUp / 1e6).toFixed(1)} MB, down ${(stats.bytesDown / 1e6).toFixed(1)} MB`,
    );
    return 0;
  } catch (e) {
    console.error(failureLine('tiles', e));
    return 1;
  } finally {
    // The keys were made for this run only: delete the client and its material on the service.
    await cnn?.unregister().catch(() => {});
    cnn?.[Symbol.dispose]();
  }
}

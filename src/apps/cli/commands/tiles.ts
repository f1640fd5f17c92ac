import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type ImageInput, readImageInput } from '../../../client/node/image-input.node.ts';
import { classifyImageTiles } from '../../../client/tiles.ts';
import { parseCnnModel } from '../../../nn/cnn/ir.ts';
import { parseGridSpec, type TileAggregation } from '../../../nn/cnn/tiles.ts';
import { type CliCommand, failureLine } from '../command.ts';
import { printTileDecisions, REMOTE_TILE_OPTIONS, runTilesRemote } from './tiles-remote.ts';

const usage = `usage: blinddx tiles <image> --model <name|dir> [--grid RxC] [--mode streamed|packed] [--aggregate max|mean] [--json]
       blinddx tiles <image> --model <id|dir> --server <url> [--token T] [--trust F] [--concurrency N]

Classifies an image larger than a CNN's input as a grid of patches under encryption: the client
makes keys, encrypts each patch, the encrypted CNN runs (in this process, or on the service with
--server), the client decrypts the per-patch logits and aggregates them per class.

<image>   a PNG/JPEG/DICOM file or a MedMNIST dataset entry (see blinddx diagnose --help)

options:
  --model <name|dir>   a CNN model folder (models/<name>/model.json), e.g. mnist-tenseal
  --grid RxC           rows×cols patches: the image is resized to exactly that grid of model
                       inputs; without it the image is centre-cropped to as many patches as fit
  --mode <m>           streamed (default): one ciphertext per patch on the latency plan;
                       packed: all patches in one request, their conv windows side by side
                       (window-packed layout; models conv → x² → dense only). --packed = --mode packed
  --aggregate <how>    max (default) or mean of the per-patch logits, per class
  --json               print {"grid","mode","perPatch","aggregate","plainAggregate","ms"}

on the service (--server): streamed = one request per patch on the served protected plan;
--packed = the served window-packed model <id>.packed, many patches per request:
  --server <url>       the BlindDx service; --model is then the model id there (a local folder
                       or models/<id> with the CNN's model.json adds the float64 twin)
  --token <t>          organisation API token (default $BLINDDX_TOKEN)
  --trust <file>       publisher public key (JWK) whose model signatures you trust; repeatable.
                       Default: $BLINDDX_TRUSTED_KEYS, else .data/demo-publisher.pub.json
  --concurrency <n>    streamed requests in flight at once (default 2)
Keys are made for the run; their client (and key material) is deleted on the service at the end.`;

/** `blinddx tiles`: the tiled (patch) flow, locally. */
export const tilesCommand: CliCommand = {
  name: 'tiles',
  summary: 'classify a large image as a grid of encrypted patches (in-process, or on a server)',
  usage,
  allowPositionals: true,
  options: {
    model: { type: 'string' },
    grid: { type: 'string' },
    packed: { type: 'boolean' },
    mode: { type: 'string' },
    aggregate: { type: 'string' },
    json: { type: 'boolean' },
    ...REMOTE_TILE_OPTIONS,
  },
  async run({ values, positionals }) {
    const spec = positionals[0];
    const name = values.model as string | undefined;
    const how = ((values.aggregate as string | undefined) ?? 'max') as TileAggregation;
    const mode = (values.mode as string | undefined) ?? (values.packed === true ? 'packed' : 'streamed');
    if (
      spec === undefined ||
      positionals.length > 1 ||
      name === undefined ||
      (how !== 'max' && how !== 'mean') ||
      (mode !== 'streamed' && mode !== 'packed')
    ) {
      console.error(
        `blinddx tiles: one <image>, --model, --aggregate max|mean and --mode streamed|packed are required\n\n${usage}`,
      );
      return 2;
    }
    if (values.server !== undefined)
      return runTilesRemote({ server: values.server as string, values, image: spec, model: name, how });
    const dir = existsSync(resolve(name, 'model.json')) ? name : resolve('models', name);
    const model = parseCnnModel(JSON.parse(readFileSync(resolve(dir, 'model.json'), 'utf8')));
    const [C, ph, pw] = model.inputShape.length === 3 ? model.inputShape : [1, ...model.inputShape];
    let input: ImageInput;
    try {
      input = await readImageInput(spec);
    } catch (e) {
      console.error(failureLine('tiles', e)); // e.g. `blinddx tiles: BAD_IMAGE: read image x.png: …`
      return 1;
    }
    const packed = mode === 'packed';
    const want = values.grid === undefined ? undefined : parseGridSpec(values.grid as string);
    process.stderr.write(
      `${input.source}: patches of ${C}×${ph}×${pw}, ${packed ? 'packed (window-packed, all patches in one request)' : 'streamed (one ciphertext per patch)'}…\n`,
    );
    const report = await classifyImageTiles(model, input.image, {
      ...(want ? { grid: want } : {}),
      packed,
      aggregate: how,
      onPatch: (d, n) => {
        if (process.stderr.isTTY) process.stderr.write(`\rpatch ${d}/${n}${d === n ? '\n' : ''}`);
      },
    });
    const { grid, plain, ms } = report;
    const patches = report.perPatch;
    if (values.json === true) {
      console.log(
        JSON.stringify({
          grid: `${grid.rows}x${grid.cols}`,
          mode: packed ? 'packed' : 'streamed',
          perPatch: report.perPatch.map((l) => Array.from(l)),
          aggregate: Array.from(report.aggregate),
          plainAggregate: Array.from(plain.aggregate),
          ms: Math.round(ms),
        }),
      );
      return 0;
    }
    printTileDecisions(report, plain, how, (k) => model.classes?.[k] ?? String(k));
    console.log(
      `${patches.length} patches in ${(ms / 1000).toFixed(2)} s (keys, encryption, inference, decryption)`,
    );
    return 0;
  },
};

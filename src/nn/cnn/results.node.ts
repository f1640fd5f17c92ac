// The results pipeline: every dataset with a trained HE-friendly CNN under models/ through plaintext
// (float64 reference), simulated (SimBackend) and encrypted (SEAL) execution on a fixed, seeded
// subset of its test split; writes docs/results.md, docs/results.json and, for MNIST, accuracy and
// time vs CKKS scale bits as SVG. Heavy (minutes): run by hand, never from `npm test`.
//
//   node src/nn/cnn/results.node.ts [--n 1000] [--seed 1] [--models mnist-tenseal,…] [--no-sweep]
//        [--sweep-sim 500] [--sweep-enc 20] [--protect on|off] [--out docs]
//
// --protect on (default) evaluates the served plan (extracted, re-randomized, flooded responses);
// off, the unprotected program (smaller parameters, faster). Rows say which.
//
// Each model's row is kept in <out>/results/<model>.json, so models can be run in separate
// processes (--models) and the tables regenerated from all kept rows.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { HeContext } from '../../he/context.ts';
import { saveCiphertext } from '../../he/crypt.ts';
import { generateKeys } from '../../he/keys.ts';
import type { ImageDataset } from '../data/dataset.ts';
import { loadIdxDataset } from '../data/idx.node.ts';
import { loadKmnistSplit } from '../data/kmnist-split.node.ts';
import { loadMedMnist } from '../data/medmnist.node.ts';
import { Rng } from '../train/rng.ts';
import { decryptOutput, encryptInput, encryptInputSeeded, packInput } from './client.ts';
import { EncryptedCnn } from './encrypted-executor.ts';
import { runStages } from './executor.ts';
import { type CnnModel, parseCnnModel } from './ir.ts';
import { planCnn } from './planner.ts';
import { preprocessImage, referenceForward } from './reference.ts';
import { SimBackend } from './sim-backend.ts';
import { lineChartSvg } from './svg-plot.ts';

/** Models the pipeline knows, with the test split each is evaluated on. */
const KNOWN: readonly { model: string; dataset: string; load: () => ImageDataset }[] = [
  { model: 'mnist-tenseal', dataset: 'MNIST', load: () => loadIdxDataset('mnist', 'test') },
  { model: 'mnist-2conv', dataset: 'MNIST', load: () => loadIdxDataset('mnist', 'test') },
  { model: 'fashion-tenseal', dataset: 'Fashion-MNIST', load: () => loadIdxDataset('fashion-mnist', 'test') },
  { model: 'kmnist-tenseal', dataset: 'KMNIST (held-out 2,000)', load: () => loadKmnistSplit('test') },
  {
    model: 'pneumonia-tenseal',
    dataset: 'PneumoniaMNIST',
    load: () => loadMedMnist('pneumoniamnist', 'test'),
  },
  { model: 'breast-tenseal', dataset: 'BreastMNIST', load: () => loadMedMnist('breastmnist', 'test') },
];

interface Row {
  dataset: string;
  model: string;
  n: number;
  testSize: number;
  seed: number;
  plainAcc: number;
  simAcc: number;
  encAcc: number;
  agreement: number;
  simAgreement: number;
  maxAbsLogitDelta: number;
  msPerImage: number;
  bytesUp: number;
  bytesDown: number;
  galoisKeyBytes: number;
  relinKeyBytes: number;
  params: string;
  protected: boolean;
}

interface SweepPoint {
  scaleBits: number;
  params: string;
  simN: number;
  simAcc: number;
  simAgreement: number;
  encN: number;
  encAcc: number;
  encAgreement: number;
  msPerImage: number;
}

const argmax = (v: ArrayLike<number>) => {
  let k = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[k]) k = i;
  return k;
};
const log = (s: string) => process.stderr.write(`${s}\n`);

/** The fixed subset: the first n of a seeded Fisher–Yates shuffle of the test indices. */
function subset(total: number, n: number, seed: number): number[] {
  const idx = Array.from({ length: total }, (_, i) => i);
  new Rng(seed).shuffle(idx);
  return idx.slice(0, Math.min(n, total));
}

function image(ds: ImageDataset, model: CnnModel, i: number): ArrayLike<number> {
  const size = model.inputShape.reduce((a, b) => a * b, 1);
  return ds.images.subarray(i * size, (i + 1) * size);
}

function simulate(model: CnnModel, plan: ReturnType<typeof planCnn>, px: ArrayLike<number>, sim: SimBackend) {
  const out = sim.decrypt(
    runStages(sim, plan.server.stages, sim.encrypt(packInput(plan.client, px), plan.client.input.period)),
  );
  void model;
  return Float64Array.from(plan.client.output.positions, (p) => out[p]);
}

/** 128-bit bound on log2 q·p per ring degree (HE standard, ternary secret). */
const TC128: Readonly<Record<number, number>> = { 8192: 218, 16384: 438, 32768: 881 };

/**
 * The same stage program on forced parameters: every middle prime `bits`, the edges `bits + 10`
 * (≤ 60), on the smallest ring whose 128-bit bound fits. The stages carry weights, not scales (the
 * backend rescales by exact primes), so only the parameters change.
 */
function withScale(plan: ReturnType<typeof planCnn>, bits: number): ReturnType<typeof planCnn> {
  const depth = plan.client.params.coeffModulusBits.length - 2;
  const edge = Math.min(60, bits + 10);
  const total = 2 * edge + depth * bits;
  const n = [plan.client.params.polyModulusDegree, 16384, 32768].find((d) => (TC128[d] ?? 0) >= total);
  if (n === undefined) throw new RangeError(`scale sweep: ${bits}-bit primes do not fit depth ${depth}`);
  const params = {
    scheme: 'ckks' as const,
    polyModulusDegree: n,
    coeffModulusBits: [edge, ...Array<number>(depth).fill(bits), edge],
    scaleBits: bits,
  };
  return { ...plan, client: { ...plan.client, params }, server: { ...plan.server, params } };
}

const paramsOf = (p: ReturnType<typeof planCnn>) =>
  `N=${p.client.params.polyModulusDegree} [${p.client.params.coeffModulusBits.join(',')}]`;

async function evaluate(
  model: CnnModel,
  ds: ImageDataset,
  indices: readonly number[],
  opts: { scaleBits?: number; simOnly?: readonly number[]; protect: boolean },
) {
  const planned = planCnn(model, { protect: opts.protect });
  const plan = opts.scaleBits === undefined ? planned : withScale(planned, opts.scaleBits);
  const plain = new Map<number, number>();
  for (const i of [...indices, ...(opts.simOnly ?? [])])
    if (!plain.has(i))
      plain.set(i, argmax(referenceForward(model, preprocessImage(model, image(ds, model, i)))));
  const sim = new SimBackend(
    { ...plan.client.params, scaleBits: plan.client.params.scaleBits! },
    { seed: 7 },
  );
  const simSet = opts.simOnly ?? indices;
  let simOk = 0;
  let simAgree = 0;
  for (const i of simSet) {
    const k = argmax(simulate(model, plan, image(ds, model, i), sim));
    if (k === ds.labels[i]) simOk++;
    if (k === plain.get(i)) simAgree++;
  }
  using ctx = await HeContext.create(plan.client.params);
  using keys = generateKeys(ctx, { relin: plan.client.relin, galoisSteps: plan.client.galoisSteps });
  const material = keys.exportPublic();
  using cnn = new EncryptedCnn(ctx, keys, plan.server);
  {
    using ct = encryptInput(ctx, keys, plan.client, image(ds, model, indices[0]));
    using _warm = cnn.infer(ct);
  }
  const bytesUp = encryptInputSeeded(ctx, keys, plan.client, image(ds, model, indices[0])).length;
  let bytesDown = 0;
  let encOk = 0;
  let agree = 0;
  let plainOk = 0;
  let maxD = 0;
  const t0 = performance.now();
  indices.forEach((i, j) => {
    const px = image(ds, model, i);
    const want = referenceForward(model, preprocessImage(model, px));
    using ct = encryptInput(ctx, keys, plan.client, px);
    using out = cnn.infer(ct);
    if (j === 0) bytesDown = saveCiphertext(out).length;
    const got = decryptOutput(keys, plan.client, out);
    want.forEach((w, k) => {
      maxD = Math.max(maxD, Math.abs(w - got[k]));
    });
    const k = argmax(got);
    if (k === ds.labels[i]) encOk++;
    if (k === plain.get(i)) agree++;
    if (plain.get(i) === ds.labels[i]) plainOk++;
    if ((j + 1) % 100 === 0)
      log(`  ${j + 1}/${indices.length}: enc ${((100 * encOk) / (j + 1)).toFixed(2)}%`);
  });
  const ms = (performance.now() - t0) / indices.length;
  return {
    plan,
    n: indices.length,
    plainAcc: plainOk / indices.length,
    simN: simSet.length,
    simAcc: simOk / simSet.length,
    simAgreement: simAgree / simSet.length,
    encAcc: encOk / indices.length,
    agreement: agree / indices.length,
    maxAbsLogitDelta: maxD,
    msPerImage: ms,
    bytesUp,
    bytesDown,
    galoisKeyBytes: material.galoisKeys?.length ?? 0,
    relinKeyBytes: material.relinKeys?.length ?? 0,
  };
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

function writeTables(outDir: string, rows: Row[], sweep: SweepPoint[] | undefined, argv: string): void {
  writeFileSync(
    join(outDir, 'results.json'),
    `${JSON.stringify(
      {
        command: `node src/nn/cnn/results.node.ts ${argv}`.trim(),
        rows: rows.map((r) => ({
          dataset: r.dataset,
          model: r.model,
          n: r.n,
          plainAcc: r.plainAcc,
          simAcc: r.simAcc,
          encAcc: r.encAcc,
          agreement: r.agreement,
          msPerImage: Number(r.msPerImage.toFixed(1)),
          bytesUp: r.bytesUp,
          bytesDown: r.bytesDown,
          galoisKeyBytes: r.galoisKeyBytes,
          relinKeyBytes: r.relinKeyBytes,
          params: r.params,
          protected: r.protected,
          subset: `seed ${r.seed}: first ${r.n} of a shuffle of the ${r.testSize} test images`,
          maxAbsLogitDelta: r.maxAbsLogitDelta,
        })),
        ...(sweep ? { mnistScaleSweep: sweep } : {}),
      },
      null,
      2,
    )}\n`,
  );
  const md: string[] = [
    '# Encrypted CNN results',
    '',
    'Generated by `node src/nn/cnn/results.node.ts` (do not edit by hand). Each model runs on a fixed',
    'subset of its test split: the first n indices of a seeded Fisher–Yates shuffle (`Rng(seed)`,',
    '`src/nn/train/rng.ts`). Plaintext = float64 reference; simulated = float64 slots with CKKS-sized',
    'noise (`sim-backend.ts`); encrypted = SEAL (node-seal 7, one thread, shared 2-core machine),',
    'latency plan, one image per ciphertext. ms/image = client encryption + server inference + client',
    'decryption. Bytes up = one seeded input ciphertext; bytes down = one output ciphertext.',
    '',
    '| dataset | model | responses | n (seed) | plaintext acc | simulated acc | encrypted acc | agreement | max abs Δlogit | ms/image | bytes up / down | Galois keys | parameters |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.dataset} | ${r.model} | ${r.protected ? 'protected (served)' : 'unprotected'} | ${r.n} of ${r.testSize} (${r.seed}) | ${pct(r.plainAcc)} | ${pct(r.simAcc)} | ${pct(r.encAcc)} | ${pct(r.agreement)} | ${r.maxAbsLogitDelta.toExponential(1)} | ${r.msPerImage.toFixed(0)} | ${(r.bytesUp / 1024).toFixed(0)} KiB / ${(r.bytesDown / 1024).toFixed(0)} KiB | ${(r.galoisKeyBytes / 2 ** 20).toFixed(1)} MiB | ${r.params} |`,
    ),
    '',
    'Notes:',
    '',
    '- Models: `models/<model>/training.json` (all trained in TypeScript with seed 1). `*-tenseal` is the',
    '  TenSEAL tutorial net (conv 1→4 7×7/3 → x² → dense 256→64 → x² → dense 64→K); `mnist-2conv` is',
    '  the two-convolution net. MedMNIST nets use inverse-frequency class weights.',
    '- KMNIST: only its 10,000-image test split is available. It is divided once by a seeded shuffle',
    '  (`loadKmnistSplit`, `Rng(1)`): 8,000 images train, the other 2,000 are the held-out test set',
    '  evaluated here.',
    '- PneumoniaMNIST (624) and BreastMNIST (156) run their full official test splits.',
    '- "unprotected" rows run the plain encrypted program; "protected (served)" rows add the output',
    '  protection the service applies (extract + re-randomize + flood), which needs larger parameters.',
    '',
  ];
  if (sweep) {
    md.push(
      '## MNIST (mnist-tenseal): accuracy and time vs CKKS scale bits',
      '',
      'Unprotected program on forced parameters: every middle prime = scale bits, edge primes + 10 bits,',
      'the smallest ring within the 128-bit bound (N=8192 up to 28 bits for this depth-5 net, then',
      'N=16384). Simulated accuracy on the first `simN` subset images, encrypted on the first `encN`.',
      '',
      '![accuracy vs scale bits](results-mnist-accuracy.svg) ![time vs scale bits](results-mnist-time.svg)',
      '',
      '| scale bits | parameters | simulated acc (n) | sim agreement | encrypted acc (n) | enc agreement | ms/image |',
      '|---|---|---|---|---|---|---|',
      ...sweep.map(
        (p) =>
          `| ${p.scaleBits} | ${p.params} | ${pct(p.simAcc)} (${p.simN}) | ${pct(p.simAgreement)} | ${pct(p.encAcc)} (${p.encN}) | ${pct(p.encAgreement)} | ${p.msPerImage.toFixed(0)} |`,
      ),
      '',
    );
  }
  writeFileSync(join(outDir, 'results.md'), `${md.join('\n')}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      n: { type: 'string', default: '1000' },
      seed: { type: 'string', default: '1' },
      models: { type: 'string' },
      'no-sweep': { type: 'boolean', default: false },
      'sweep-sim': { type: 'string', default: '500' },
      'sweep-enc': { type: 'string', default: '20' },
      'sweep-bits': { type: 'string', default: '20,22,24,26,28,32,36,40' },
      out: { type: 'string', default: 'docs' },
      protect: { type: 'string', default: 'on' },
    },
  });
  const n = Number(values.n);
  if (values.protect !== 'on' && values.protect !== 'off') throw new Error('--protect: on or off');
  const protect = values.protect === 'on';
  const seed = Number(values.seed);
  const outDir = resolve(values.out!);
  const rowsDir = join(outDir, 'results');
  mkdirSync(rowsDir, { recursive: true });
  const wanted = values.models?.split(',');
  const available = KNOWN.filter((k) => existsSync(resolve('models', k.model, 'model.json')));
  for (const k of available.filter((a) => !wanted || wanted.includes(a.model))) {
    const model = parseCnnModel(JSON.parse(readFileSync(resolve('models', k.model, 'model.json'), 'utf8')));
    const ds = k.load();
    const idx = subset(ds.n, n, seed);
    log(`${k.model} on ${idx.length} ${k.dataset} test images…`);
    const r = await evaluate(model, ds, idx, { protect });
    const row: Row = {
      dataset: k.dataset,
      model: k.model,
      n: r.n,
      testSize: ds.n,
      seed,
      plainAcc: r.plainAcc,
      simAcc: r.simAcc,
      encAcc: r.encAcc,
      agreement: r.agreement,
      simAgreement: r.simAgreement,
      maxAbsLogitDelta: r.maxAbsLogitDelta,
      msPerImage: r.msPerImage,
      bytesUp: r.bytesUp,
      bytesDown: r.bytesDown,
      galoisKeyBytes: r.galoisKeyBytes,
      relinKeyBytes: r.relinKeyBytes,
      params: paramsOf(r.plan),
      protected: protect,
    };
    log(
      `  plain ${pct(row.plainAcc)} sim ${pct(row.simAcc)} enc ${pct(row.encAcc)} agree ${pct(row.agreement)}`,
    );
    writeFileSync(
      join(rowsDir, `${k.model}${protect ? '' : '.unprotected'}.json`),
      `${JSON.stringify(row, null, 2)}\n`,
    );
  }
  const sweepFile = join(rowsDir, 'mnist-scale-sweep.sweep');
  if (!values['no-sweep'] && (!wanted || wanted.includes('sweep'))) {
    const model = parseCnnModel(
      JSON.parse(readFileSync(resolve('models', 'mnist-tenseal', 'model.json'), 'utf8')),
    );
    const ds = loadIdxDataset('mnist', 'test');
    const simIdx = subset(ds.n, Number(values['sweep-sim']), seed);
    const encIdx = simIdx.slice(0, Number(values['sweep-enc']));
    const points: SweepPoint[] = [];
    for (const bits of values['sweep-bits']!.split(',').map(Number)) {
      log(`scale sweep: ${bits}-bit scale…`);
      const r = await evaluate(model, ds, encIdx, { scaleBits: bits, simOnly: simIdx, protect: false });
      points.push({
        scaleBits: bits,
        params: paramsOf(r.plan),
        simN: r.simN,
        simAcc: r.simAcc,
        simAgreement: r.simAgreement,
        encN: r.n,
        encAcc: r.encAcc,
        encAgreement: r.agreement,
        msPerImage: r.msPerImage,
      });
    }
    writeFileSync(sweepFile, `${JSON.stringify(points, null, 2)}\n`);
    writeFileSync(
      join(outDir, 'results-mnist-accuracy.svg'),
      lineChartSvg(
        [
          {
            name: `simulated (n=${points[0].simN})`,
            points: points.map((p) => [p.scaleBits, 100 * p.simAcc]),
          },
          {
            name: `encrypted (n=${points[0].encN})`,
            points: points.map((p) => [p.scaleBits, 100 * p.encAcc]),
          },
        ],
        {
          title: 'MNIST (mnist-tenseal): accuracy vs scale bits',
          xLabel: 'CKKS scale bits',
          yLabel: 'accuracy %',
        },
      ),
    );
    writeFileSync(
      join(outDir, 'results-mnist-time.svg'),
      lineChartSvg(
        [{ name: 'encrypted, ms per image', points: points.map((p) => [p.scaleBits, p.msPerImage]) }],
        {
          title: 'MNIST (mnist-tenseal): time vs scale bits',
          xLabel: 'CKKS scale bits',
          yLabel: 'ms per image',
        },
      ),
    );
  }
  const order = KNOWN.map((k) => k.model);
  const rows = readdirSync(rowsDir)
    .filter((f) => f.endsWith('.json') && order.includes(f.replace(/(\.unprotected)?\.json$/, '')))
    .map((f) => JSON.parse(readFileSync(join(rowsDir, f), 'utf8')) as Row)
    .sort(
      (a, b) => order.indexOf(a.model) - order.indexOf(b.model) || Number(b.protected) - Number(a.protected),
    );
  const sweep = existsSync(sweepFile)
    ? (JSON.parse(readFileSync(sweepFile, 'utf8')) as SweepPoint[])
    : undefined;
  writeTables(outDir, rows, sweep, process.argv.slice(2).join(' '));
  log(`wrote ${join(outDir, 'results.md')} and results.json (${rows.length} rows)`);
}

await main();

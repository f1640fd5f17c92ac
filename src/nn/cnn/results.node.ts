// The results pipeline (`npm run results`): every row of RESULTS_ROWS (results-registry.node.ts)
// whose model exists under models/ runs through plaintext (float64 reference), simulated (SimBackend)
// and encrypted (SEAL) execution, and docs/results.md, docs/results.json and the MNIST accuracy /
// time vs CKKS scale-bits plots are written. Heavy (about an hour or more): run by hand, never from `npm test`.
//
//   node src/nn/cnn/results.node.ts [--rows mnist-tenseal,…] [--n N] [--sim-n N] [--latency-images 5]
//        [--no-sweep] [--sweep-sim 500] [--sweep-enc 20] [--sweep-bits 20,22,…] [--out docs] [--models models]
//        [--mode throughput|latency] [--protect on|off] [--tables-only] [--latency-only] [--only-stale]
//        [--workers N]
//
// Encrypted accuracy runs in throughput mode (one image per slot, ≤ N/2 images per batch) on each
// row's full test split (or its registered seeded subset); latency is timed separately on single
// images in the protected latency plan (the served path). --n caps every row (quick runs, CI);
// --mode latency / --protect off exist for small CI runs (rows say which was used). Rows registered
// in latency mode (nets too big for throughput mode, e.g. CIFAR-10) run their encrypted accuracy
// pass with --workers images in flight on the he worker pool (default: one per core; 1 = the
// single-process loop), then time the single-image latency alone.
//
// Each row is kept in <out>/results/<model>.json, so rows can be run in separate processes (--rows)
// and the tables are always rebuilt from every kept row. --latency-only re-times the single-image
// latency of kept rows (e.g. once the machine is quieter) without re-running the accuracy passes;
// --only-stale measures only rows without a kept row for the current model.json (sha256).

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { TC128_MAX_BITS } from '../../he/params.ts';
import { type CnnModel, parseCnnModel } from './ir.ts';
import { evaluateLatencyOnPool } from './node/latency-parallel.ts';
import { planCnn } from './planner.ts';
import {
  evaluateLatency,
  evaluatePlain,
  evaluateSimulated,
  paramsText,
  seededSubset,
} from './results-eval.ts';
import { EVAL_SETS, evalSet, RESULTS_ROWS } from './results-registry.node.ts';
import { missingFloorRows, pct, type ResultRow, resultsJson, resultsTables } from './results-report.ts';
import { measureRow, remeasureLatency } from './results-row.ts';
import { lineChartSvg } from './svg-plot.ts';

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

const started = performance.now();
const log = (s: string) => {
  const t = ((performance.now() - started) / 1000).toFixed(0).padStart(5);
  process.stderr.write(`[${t} s] ${s}\n`);
};

/**
 * The same stage program on forced parameters: every middle prime `bits`, the edges `bits + 10`
 * (≤ 60), on the smallest ring whose 128-bit bound fits. The stages carry weights, not scales (the
 * backend rescales by exact primes), so only the parameters change.
 */
function withScale(plan: ReturnType<typeof planCnn>, bits: number): ReturnType<typeof planCnn> {
  const depth = plan.client.params.coeffModulusBits.length - 2;
  const edge = Math.min(60, bits + 10);
  const total = 2 * edge + depth * bits;
  const n = [plan.client.params.polyModulusDegree, 16384, 32768].find(
    (d) => (TC128_MAX_BITS[d] ?? 0) >= total,
  );
  if (n === undefined) throw new RangeError(`scale sweep: ${bits}-bit primes do not fit depth ${depth}`);
  const params = {
    scheme: 'ckks' as const,
    polyModulusDegree: n,
    coeffModulusBits: [edge, ...Array<number>(depth).fill(bits), edge],
    scaleBits: bits,
  };
  return { ...plan, client: { ...plan.client, params }, server: { ...plan.server, params } };
}

/** sha256 of a model's model.json: a kept row measured another model.json is stale. */
function modelHash(dir: string): string {
  return createHash('sha256')
    .update(readFileSync(join(dir, 'model.json')))
    .digest('hex');
}

function loadModel(dir: string): CnnModel {
  return parseCnnModel(JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')));
}

const progress = (phase: string, done: number, total: number) => log(`  ${phase} ${done}/${total}`);

async function sweepMnist(
  modelsDir: string,
  seed: number,
  simCount: number,
  encCount: number,
  bitsList: number[],
): Promise<SweepPoint[]> {
  const model = loadModel(join(modelsDir, 'mnist-tenseal'));
  const ds = evalSet('mnist').load();
  const simIdx = seededSubset(ds.n, simCount, seed);
  const encIdx = simIdx.slice(0, encCount);
  const plain = evaluatePlain(model, ds, simIdx);
  const base = planCnn(model, { protect: false });
  const points: SweepPoint[] = [];
  for (const bits of bitsList) {
    const plan = withScale(base, bits);
    log(`scale sweep: ${bits}-bit scale, ${paramsText(plan.client.params)}…`);
    const sim = evaluateSimulated(model, plan, ds, simIdx, plain);
    const enc = await evaluateLatency(model, ds, encIdx, plain, { plan });
    points.push({
      scaleBits: bits,
      params: paramsText(plan.client.params),
      simN: sim.n,
      simAcc: sim.acc,
      simAgreement: sim.agreement,
      encN: enc.n,
      encAcc: enc.acc,
      encAgreement: enc.agreement,
      msPerImage: enc.medianMs,
    });
    log(`  sim ${pct(sim.acc)}, enc ${pct(enc.acc)} (${enc.n}), ${enc.medianMs.toFixed(0)} ms/image`);
  }
  return points;
}

function writePlots(outDir: string, points: SweepPoint[]): void {
  writeFileSync(
    join(outDir, 'results-mnist-accuracy.svg'),
    lineChartSvg(
      [
        { name: `simulated (n=${points[0].simN})`, points: points.map((p) => [p.scaleBits, 100 * p.simAcc]) },
        { name: `encrypted (n=${points[0].encN})`, points: points.map((p) => [p.scaleBits, 100 * p.encAcc]) },
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
      [{ name: 'encrypted, median ms per image', points: points.map((p) => [p.scaleBits, p.msPerImage]) }],
      {
        title: 'MNIST (mnist-tenseal): time vs scale bits',
        xLabel: 'CKKS scale bits',
        yLabel: 'ms per image',
      },
    ),
  );
}

function markdown(rows: ResultRow[], missing: string[], sweep: SweepPoint[] | undefined): string {
  const sets = [...new Set(rows.map((r) => `${r.dataset}: ${r.split}`))];
  const md: string[] = [
    '# Encrypted CNN results',
    '',
    'Regenerate with **`npm run results`** (`node src/nn/cnn/results.node.ts`; 1–1.5 hours for the other rows at their last run plus 31 min for CIFAR-10, on this',
    '2-core machine; `--rows a,b` re-measures single rows; do not edit by hand). The rows are `RESULTS_ROWS` in',
    '`src/nn/cnn/results-registry.node.ts`. One row per model and test set:',
    '',
    '- **plaintext** = the float64 reference (`reference.ts`); **simulated** = the protected latency plan on',
    '  float64 slots with CKKS-sized noise (`sim-backend.ts`), on all test images or a seeded subset of the',
    '  stated size; **encrypted** = real SEAL (node-seal 7, one thread per process or worker)',
    '  in **throughput mode** (`batch-executor.ts`: one image per slot, one ciphertext per input feature,',
    '  up to N/2 images per batch; the "encrypted run" column says whether its responses were protected)',
    '  or, where its row says "latency", in the protected latency plan (one image per ciphertext, one image',
    '  per core in flight on the he worker pool), on the same images. Agreement = encrypted argmax = plaintext argmax; drop = plaintext − encrypted',
    '  accuracy; max abs Δlogit = largest |encrypted − float64| logit over all images and classes.',
    '- **latency / image** = median wall time of single images (client encryption + server inference +',
    '  client decryption, after one untimed warm-up that encodes the weights) in the **protected latency',
    '  plan** — the served path: one image per ciphertext, responses extracted, re-randomized and flooded.',
    '  Bytes up = one seeded input ciphertext; bytes down = one response; Galois keys = count and',
    '  serialized bytes the client uploads once (plus relinearization keys, in results.json).',
    '- **test images**: the full test split unless a seeded subset is stated (the first n indices of a',
    '  Fisher–Yates shuffle with `Rng(seed)`, `src/nn/train/rng.ts`). Test splits:',
    ...sets.map((s) => `  - ${s}`),
    '- Times are wall times on a shared 2-core machine while other jobs ran (the 1-minute load average at',
    '  the latency measurement is given where recorded; load 2 = both cores busy): upper bounds of a quiet run.',
    '',
    ...resultsTables(rows, new Set(RESULTS_ROWS.filter((r) => r.comparison).map((r) => r.model))),
    '',
  ];
  const notes = RESULTS_ROWS.filter((r) => r.note !== undefined && rows.some((x) => x.model === r.model));
  if (notes.length > 0) md.push('Row notes:', '', ...notes.map((r) => `- ${r.model}: ${r.note}`), '');
  if (missing.length > 0) md.push('Not measured in this run:', '', ...missing.map((m) => `- ${m}`), '');
  if (sweep) {
    md.push(
      '## MNIST (mnist-tenseal): accuracy and time vs CKKS scale bits',
      '',
      'Unprotected latency program on forced parameters: every middle prime = scale bits, edge primes + 10',
      'bits, the smallest ring within the 128-bit bound (N=8192 up to 28 bits for this depth-5 net, then',
      'N=16384). Simulated accuracy on the first `simN` subset images, encrypted on the first `encN`;',
      'ms/image is the median over the encN images.',
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
  return `${md.join('\n')}\n`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string' },
      n: { type: 'string' },
      seed: { type: 'string', default: '1' },
      'sim-n': { type: 'string' },
      'latency-images': { type: 'string' },
      'no-sweep': { type: 'boolean', default: false },
      'sweep-sim': { type: 'string', default: '500' },
      'sweep-enc': { type: 'string', default: '20' },
      'sweep-bits': { type: 'string', default: '20,22,24,26,28,32,36,40' },
      'tables-only': { type: 'boolean', default: false },
      'latency-only': { type: 'boolean', default: false },
      'only-stale': { type: 'boolean', default: false },
      mode: { type: 'string', default: 'throughput' },
      protect: { type: 'string', default: 'on' },
      out: { type: 'string', default: 'docs' },
      models: { type: 'string', default: 'models' },
      workers: { type: 'string' },
    },
  });
  const num = (name: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const x = Number(v);
    if (!(Number.isInteger(x) && x >= 0)) throw new Error(`--${name}: a non-negative integer, got ${v}`);
    return x;
  };
  const cap = num('n', values.n);
  const simCap = num('sim-n', values['sim-n']);
  const latencyImages = num('latency-images', values['latency-images']);
  const seed = num('seed', values.seed) ?? 1;
  const workers = num('workers', values.workers) ?? availableParallelism();
  const mode = values.mode;
  if (mode !== 'throughput' && mode !== 'latency') throw new Error('--mode: throughput or latency');
  if (values.protect !== 'on' && values.protect !== 'off') throw new Error('--protect: on or off');
  const outDir = resolve(values.out!);
  const modelsDir = resolve(values.models!);
  const rowsDir = join(outDir, 'results');
  mkdirSync(rowsDir, { recursive: true });
  const wanted = values.rows?.split(',');
  if (wanted) {
    const known = new Set([...RESULTS_ROWS.map((r) => r.model), 'sweep', 'none']);
    const bad = wanted.filter((w) => !known.has(w));
    if (bad.length > 0) throw new Error(`--rows: unknown ${bad.join(', ')}; known ${[...known].join(', ')}`);
  }
  const missing: string[] = [];
  for (const r of RESULTS_ROWS) {
    const dir = join(modelsDir, r.model);
    if (!existsSync(join(dir, 'model.json'))) {
      missing.push(`${EVAL_SETS[r.set]?.dataset ?? r.set} (${r.model}): no model at models/${r.model}`);
      continue;
    }
    if (values['tables-only'] || (wanted && !wanted.includes(r.model))) continue;
    const kept = join(rowsDir, `${r.model}.json`);
    const hash = modelHash(dir);
    if (values['only-stale'] && existsSync(kept)) {
      const old = JSON.parse(readFileSync(kept, 'utf8')) as ResultRow;
      if (old.modelSha256 === hash && old.encMode !== undefined) {
        log(`${r.model}: kept row is current (model.json unchanged), skipped`);
        continue;
      }
    }
    const set = evalSet(r.set);
    const model = loadModel(dir);
    const ds = set.load();
    if (values['latency-only']) {
      if (!existsSync(kept)) {
        log(`${r.model}: no kept row to re-time (measure it first)`);
        continue;
      }
      const old = JSON.parse(readFileSync(kept, 'utf8')) as ResultRow;
      log(`${r.model}: re-timing the latency plan on ${latencyImages ?? old.latencyImages} images…`);
      const row = await remeasureLatency(model, ds, old, {
        ...(latencyImages !== undefined ? { latencyImages } : {}),
        protect: values.protect === 'on',
      });
      const timed = { ...row, loadAverage: Number(loadavg()[0].toFixed(2)) };
      log(
        `  median ${timed.msPerImage.toFixed(0)} ms (was ${old.msPerImage.toFixed(0)}), load ${timed.loadAverage}`,
      );
      writeFileSync(kept, `${JSON.stringify(timed, null, 2)}\n`);
      continue;
    }
    const n = Math.min(cap ?? r.n ?? ds.n, r.n ?? ds.n);
    log(`${r.model} on ${n === ds.n ? 'all' : n} of ${ds.n} ${set.dataset} test images…`);
    const row = await measureRow(
      model,
      ds,
      { dataset: set.dataset, model: r.model, split: set.split },
      {
        n,
        seed: r.seed ?? seed,
        ...(r.simN !== undefined || simCap !== undefined
          ? { simN: Math.min(r.simN ?? Number.POSITIVE_INFINITY, simCap ?? Number.POSITIVE_INFINITY) }
          : {}),
        latencyImages: latencyImages ?? r.latencyImages ?? 5,
        ...(r.encN !== undefined || cap !== undefined
          ? { encN: Math.min(r.encN ?? Number.POSITIVE_INFINITY, cap ?? Number.POSITIVE_INFINITY) }
          : {}),
        mode: r.mode ?? mode,
        protect: values.protect === 'on',
        ...(workers > 1
          ? {
              encryptedLatencyPass: (m, d, idx, plain, plan, onProgress) =>
                evaluateLatencyOnPool(m, d, idx, plain, plan, {
                  workers,
                  ...(onProgress ? { onProgress } : {}),
                }),
            }
          : {}),
        onProgress: progress,
        log: (s) => log(`  ${s}`),
      },
    );
    const timed = { ...row, loadAverage: Number(loadavg()[0].toFixed(2)), modelSha256: hash };
    log(`  ${r.model}: done in ${row.wallSeconds} s (load ${timed.loadAverage})`);
    writeFileSync(kept, `${JSON.stringify(timed, null, 2)}\n`);
  }
  const sweepFile = join(rowsDir, 'mnist-scale-sweep.sweep');
  if (
    !values['tables-only'] &&
    !values['latency-only'] &&
    !values['no-sweep'] &&
    (!wanted || wanted.includes('sweep'))
  ) {
    const points = await sweepMnist(
      modelsDir,
      seed,
      num('sweep-sim', values['sweep-sim'])!,
      num('sweep-enc', values['sweep-enc'])!,
      values['sweep-bits']!.split(',').map(Number),
    );
    writeFileSync(sweepFile, `${JSON.stringify(points, null, 2)}\n`);
    writePlots(outDir, points);
  }
  // Rebuild the tables from every kept row of a registered model (rows of older formats are dropped).
  const order = RESULTS_ROWS.map((r) => r.model);
  const rows: ResultRow[] = [];
  for (const f of readdirSync(rowsDir).filter((x) => x.endsWith('.json'))) {
    const row = JSON.parse(readFileSync(join(rowsDir, f), 'utf8')) as ResultRow;
    if (order.includes(f.slice(0, -5)) && row.encMode !== undefined) rows.push(row);
    else rmSync(join(rowsDir, f));
  }
  rows.sort((a, b) => order.indexOf(a.model) - order.indexOf(b.model));
  for (const m of order)
    if (!rows.some((r) => r.model === m) && !missing.some((x) => x.includes(`(${m})`)))
      missing.push(`${m}: model exists but no row has been measured (run with --rows ${m})`);
  for (const r of rows)
    if (r.modelSha256 !== undefined && existsSync(join(modelsDir, r.model, 'model.json')))
      if (modelHash(join(modelsDir, r.model)) !== r.modelSha256)
        missing.push(`${r.model}: STALE — its row was measured on an earlier models/${r.model}/model.json`);
  for (const d of missingFloorRows(rows))
    missing.push(`${d}: issue-7 floors apply but no model is registered`);
  const sweep = existsSync(sweepFile)
    ? (JSON.parse(readFileSync(sweepFile, 'utf8')) as SweepPoint[])
    : undefined;
  writeFileSync(join(outDir, 'results.md'), markdown(rows, missing, sweep));
  writeFileSync(
    join(outDir, 'results.json'),
    `${JSON.stringify(
      resultsJson(
        rows,
        'npm run results (node src/nn/cnn/results.node.ts)',
        sweep ? { mnistScaleSweep: sweep } : {},
      ),
      null,
      2,
    )}\n`,
  );
  log(`wrote ${join(outDir, 'results.md')} and results.json (${rows.length} rows)`);
}

await main();

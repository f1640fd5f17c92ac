// `npm run bench -- head [--json] [--reps N]`: the encrypted linear head on the published
// "blind analysis" workload (d = 2048 embedding, K = 1 and K = 7), rotation-free coefficient
// packing vs the slot-layout InnerSum baseline, measured in the same process.
import { parseArgs } from 'node:util';
import { HeContext } from '../src/he/context.ts';
import { saveCiphertext } from '../src/he/crypt.ts';
import { Evaluator } from '../src/he/evaluator.ts';
import { Ciphertext } from '../src/he/handles.ts';
import { generateKeys, materialSizes } from '../src/he/keys.ts';
import { decryptLogits, encryptEmbedding } from '../src/nn/coeff-head-client.ts';
import { clientPlanOf, planCoeffHead } from '../src/nn/coeff-head-plan.ts';
import { CoeffHeadEvaluator } from '../src/nn/coeff-head-server.ts';
import { evaluateHeadPlain, type LinearHeadSpec } from '../src/nn/head.ts';
import { decryptLogitsSlots, encryptEmbeddingSlots, InnerSumHead } from '../src/nn/innersum-head.ts';

interface Row {
  method: 'rotation-free' | 'innersum';
  d: number;
  k: number;
  /** Median server time on the request path (ms). */
  serverMs: number;
  /** Median server time made off the request path (result masks), 0 for the baseline. */
  offlineMs: number;
  encryptMs: number;
  decryptMs: number;
  bytesUp: number;
  bytesDown: number;
  galoisKeyBytes: number;
  maxAbsError: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return s / 2 ** 32;
  };
}

function head(d: number, k: number): LinearHeadSpec {
  const r = seeded(d * 31 + k);
  return {
    kind: 'linear',
    inputDim: d,
    outputs: k,
    weights: Array.from({ length: k }, () => Array.from({ length: d }, () => (r() - 0.5) * 0.05)),
    bias: Array.from({ length: k }, () => r() - 0.5),
    activation: k === 1 ? 'sigmoid' : 'softmax',
    classes: k === 1 ? ['negative', 'positive'] : Array.from({ length: k }, (_, i) => `class${i}`),
  };
}

function loadRaw(ctx: HeContext, bytes: Uint8Array, length: number, kind: 'coeffs' | 'slots'): Ciphertext {
  const raw = new ctx._seal.Ciphertext();
  raw.loadFromArray(ctx._ctx, bytes);
  return new Ciphertext(ctx, raw, kind === 'coeffs' ? { kind, length } : { kind, length, period: length });
}

function time<T>(f: () => T): [T, number] {
  const t = performance.now();
  const v = f();
  return [v, performance.now() - t];
}

async function rotationFree(d: number, k: number, reps: number, x: number[][]): Promise<Row> {
  using ctx = await HeContext.create('ckks-8192-coeff');
  using keys = generateKeys(ctx, {});
  const spec = head(d, k);
  const plan = planCoeffHead(spec, { params: ctx.params, embeddingBound: 8 });
  using server = new CoeffHeadEvaluator(ctx, spec, plan);
  const ev = new Evaluator(ctx, keys);
  const enc: number[] = [];
  const srv: number[] = [];
  const off: number[] = [];
  const dec: number[] = [];
  let up = 0;
  let down = 0;
  let maxErr = 0;
  for (let i = 0; i < reps; i++) {
    const [bytes, te] = time(() => encryptEmbedding(keys, clientPlanOf(plan), x[i]));
    using input = loadRaw(ctx, bytes, d, 'coeffs');
    const [masks, tm] = time(() => server.createMasks(keys));
    const [outs, ts] = time(() => server.evaluate(ev, input, masks));
    const [logits, td] = time(() => decryptLogits(keys, clientPlanOf(plan), outs));
    const want = evaluateHeadPlain(spec, x[i]);
    want.forEach((w, j) => {
      maxErr = Math.max(maxErr, Math.abs(w - logits[j]));
    });
    up = bytes.length;
    down = outs.reduce((a, o) => a + saveCiphertext(o).length, 0);
    for (const o of outs) o[Symbol.dispose]();
    enc.push(te);
    off.push(tm);
    srv.push(ts);
    dec.push(td);
  }
  return {
    method: 'rotation-free',
    d,
    k,
    serverMs: median(srv),
    offlineMs: median(off),
    encryptMs: median(enc),
    decryptMs: median(dec),
    bytesUp: up,
    bytesDown: down,
    galoisKeyBytes: materialSizes(keys.exportPublic()).galoisKeys,
    maxAbsError: maxErr,
  };
}

async function innerSum(d: number, k: number, reps: number, x: number[][]): Promise<Row> {
  using ctx = await HeContext.create('ckks-8192-d2');
  const steps = InnerSumHead.galoisSteps(d);
  using keys = generateKeys(ctx, { galoisSteps: steps });
  const spec = head(d, k);
  using server = new InnerSumHead(ctx, spec);
  const ev = new Evaluator(ctx, keys);
  const enc: number[] = [];
  const srv: number[] = [];
  const dec: number[] = [];
  let up = 0;
  let down = 0;
  let maxErr = 0;
  for (let i = 0; i < reps; i++) {
    const [bytes, te] = time(() => encryptEmbeddingSlots(keys, x[i]));
    using input = loadRaw(ctx, bytes, server.period, 'slots');
    const [outs, ts] = time(() => server.evaluate(ev, input));
    const [logits, td] = time(() => decryptLogitsSlots(keys, outs));
    const want = evaluateHeadPlain(spec, x[i]);
    want.forEach((w, j) => {
      maxErr = Math.max(maxErr, Math.abs(w - logits[j]));
    });
    up = bytes.length;
    down = outs.reduce((a, o) => a + saveCiphertext(o).length, 0);
    for (const o of outs) o[Symbol.dispose]();
    enc.push(te);
    srv.push(ts);
    dec.push(td);
  }
  return {
    method: 'innersum',
    d,
    k,
    serverMs: median(srv),
    offlineMs: 0,
    encryptMs: median(enc),
    decryptMs: median(dec),
    bytesUp: up,
    bytesDown: down,
    galoisKeyBytes: materialSizes(keys.exportPublic()).galoisKeys,
    maxAbsError: maxErr,
  };
}

const kib = (b: number) => `${(b / 1024).toFixed(0)} KiB`;

/** Entry point used by bench/main.ts. */
export async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { json: { type: 'boolean' }, reps: { type: 'string' } },
  });
  const reps = Number(values.reps ?? 9);
  const d = 2048;
  const rows: Row[] = [];
  for (const k of [1, 7]) {
    const r = seeded(k);
    const x = Array.from({ length: reps }, () => Array.from({ length: d }, () => (r() - 0.5) * 4));
    process.stderr.write(`head bench: d=${d} K=${k} rotation-free …\n`);
    rows.push(await rotationFree(d, k, reps, x));
    process.stderr.write(`head bench: d=${d} K=${k} innersum …\n`);
    rows.push(await innerSum(d, k, reps, x));
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ rows })}\n`);
    return;
  }
  const header = [
    'method',
    'd',
    'K',
    'server ms',
    'offline ms',
    'encrypt ms',
    'decrypt ms',
    'up',
    'down',
    'Galois keys',
    'max |Δlogit|',
  ];
  const table = rows.map((r) => [
    r.method,
    String(r.d),
    String(r.k),
    r.serverMs.toFixed(2),
    r.offlineMs.toFixed(2),
    r.encryptMs.toFixed(2),
    r.decryptMs.toFixed(2),
    kib(r.bytesUp),
    kib(r.bytesDown),
    kib(r.galoisKeyBytes),
    r.maxAbsError.toExponential(1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
  console.log(`Encrypted linear head, median of ${reps} queries (one process, same machine)\n`);
  console.log(line(header));
  for (const t of table) console.log(line(t));
  console.log('');
  for (const k of [1, 7]) {
    const rf = rows.find((r) => r.method === 'rotation-free' && r.k === k)!;
    const is = rows.find((r) => r.method === 'innersum' && r.k === k)!;
    console.log(
      `K=${k}: rotation-free is ${(is.serverMs / rf.serverMs).toFixed(1)}× faster on the request path, ` +
        `${(is.serverMs / (rf.serverMs + rf.offlineMs)).toFixed(1)}× counting its mask made off the path; ` +
        `Galois keys ${kib(rf.galoisKeyBytes)} vs ${kib(is.galoisKeyBytes)}.`,
    );
  }
  console.log(
    '\nThe InnerSum baseline returns unmasked, un-re-randomized results (as published); rotation-free masks, re-randomizes and floods.',
  );
}

if (import.meta.main) await run(process.argv.slice(2));

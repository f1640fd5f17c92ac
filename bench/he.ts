// `npm run bench -- he [--json] [--quick] [--big]`: what each homomorphic primitive costs per preset
// through BlindDx's own he layer (checks included), the sizes of what crosses the wire, and what
// the worker pool buys on this machine. Progress goes to stderr so `--json` stdout stays one object.

import { availableParallelism, loadavg } from 'node:os';
import { HeContext } from '../src/he/context.ts';
import {
  decrypt,
  encryptPublic,
  encryptSymmetric,
  encryptSymmetricSeeded,
  saveCiphertext,
} from '../src/he/crypt.ts';
import { decodeSlots, encodeSlots } from '../src/he/encoder.ts';
import { Evaluator, innerSumSteps } from '../src/he/evaluator.ts';
import { generateKeys } from '../src/he/keys.ts';
import { WorkerPool } from '../src/he/node/worker-pool.ts';
import type { handlers as poolHandlers } from './_pool-tasks.ts';
import { HEAD_WIDTH } from './_pool-tasks.ts';

/** Shown by `npm run bench -- --help`. */
export const description =
  'HE primitives per preset (median ms), key/ciphertext sizes, worker-pool speedup (--json, --quick, --big)';

/** One timing: median milliseconds of `op` on `preset`. */
export interface Row {
  readonly preset: string;
  readonly op: string;
  readonly ms: number;
}
/** One serialized size in bytes. */
export interface Size {
  readonly preset: string;
  readonly what: string;
  readonly bytes: number;
}
/** The `--json` output. */
export interface HeBenchResult {
  readonly rows: Row[];
  readonly sizes: Size[];
  /** Tasks/s with 2 workers ÷ tasks/s with 1 worker, same batch, same run. */
  readonly poolSpeedup: number;
}

interface Plan {
  readonly presets: readonly string[];
  /** Repetitions of cheap operations, by preset. */
  readonly reps: (preset: string) => number;
  /** Repetitions of context creation and key generation (seconds each at N ≥ 16384). */
  readonly slowReps: (preset: string) => number;
  readonly poolPreset: string;
  readonly poolTasks: number;
  readonly poolRounds: number;
}

const log = (msg: string) => process.stderr.write(`${msg}\n`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median ms of `make` over `reps` runs after one warm-up; what it returns is disposed untimed. */
function time<T>(reps: number, make: () => T): number {
  const dispose = (x: T) => (x as { [Symbol.dispose]?: () => void })?.[Symbol.dispose]?.();
  dispose(make());
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const x = make();
    ms.push(performance.now() - t0);
    dispose(x);
  }
  return median(ms);
}

async function timeAsync(reps: number, make: () => Promise<{ [Symbol.dispose](): void }>): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const x = await make();
    ms.push(performance.now() - t0);
    x[Symbol.dispose]();
  }
  return median(ms);
}

async function benchPreset(preset: string, plan: Plan, rows: Row[], sizes: Size[]): Promise<void> {
  const reps = plan.reps(preset);
  const slow = plan.slowReps(preset);
  const row = (op: string, ms: number) => {
    rows.push({ preset, op, ms: Number(ms.toFixed(4)) });
    log(`  ${preset} ${op}: ${ms.toFixed(3)} ms`);
  };
  const size = (what: string, bytes: number) => sizes.push({ preset, what, bytes });

  row('context creation', await timeAsync(slow, () => HeContext.create(preset)));
  using ctx = await HeContext.create(preset);
  const seal = ctx._seal;
  row(
    'keygen secret+public',
    time(slow, () => generateKeys(ctx)),
  );
  using keys = generateKeys(ctx, { relin: true, galoisSteps: [1] });
  const kg = new seal.KeyGenerator(ctx._ctx, keys._secretKey);
  try {
    row(
      'keygen relin',
      time(slow, () => kg.createRelinKeys()),
    );
    row(
      'keygen galois (per key)',
      time(slow, () => kg.createGaloisKeysWithSteps(Int32Array.from([1]))),
    );
  } finally {
    kg.delete();
  }
  const material = keys.exportPublic();
  size('public key (seeded)', material.publicKey.length);
  size('relin keys (seeded)', material.relinKeys!.length);
  size('one galois key (seeded)', material.galoisKeys!.length);

  const values = Float64Array.from({ length: ctx.params.slots }, (_, i) => Math.sin(i) / 2);
  row(
    'encode',
    time(reps, () => encodeSlots(ctx, values)),
  );
  using pt = encodeSlots(ctx, values);
  row(
    'encrypt public',
    time(reps, () => encryptPublic(keys, pt)),
  );
  row(
    'encrypt symmetric',
    time(reps, () => encryptSymmetric(keys, pt)),
  );
  using ct = encryptPublic(keys, pt);
  using ct2 = encryptSymmetric(keys, pt);
  size('ciphertext (full)', saveCiphertext(ct).length);
  size('ciphertext (seeded symmetric)', encryptSymmetricSeeded(keys, pt).length);

  const ev = new Evaluator(ctx, keys);
  row(
    'add',
    time(reps, () => ev.add(ct, ct2)),
  );
  row(
    'multiply plain',
    time(reps, () => ev.multiplyPlain(ct, pt)),
  );
  row(
    'multiply+relinearize',
    time(reps, () => {
      using m = ev.multiply(ct, ct2);
      return ev.relinearize(m);
    }),
  );
  using prod = ev.multiplyPlain(ct, pt);
  row(
    'rescale',
    time(reps, () => ev.rescale(prod)),
  );
  row(
    'rotate',
    time(reps, () => ev.rotate(ct, 1)),
  );
  row(
    'decrypt',
    time(reps, () => decrypt(keys, ct)),
  );
  using dec = decrypt(keys, ct);
  row(
    'decode',
    time(reps, () => decodeSlots(dec, ctx.params.slots)),
  );
}

/** CPU cores the whole process used during the pool rounds (1 worker, 2 workers), for the table. */
let cores: [number, number] = [Number.NaN, Number.NaN];

/** Tasks/s of the same batch on 1 and on 2 workers, alternating rounds so drift hits both. */
async function benchPool(plan: Plan, rows: Row[]): Promise<number> {
  const preset = plan.poolPreset;
  log(`pool: ${plan.poolTasks} "head" tasks at ${preset}, 1 vs 2 workers, ${plan.poolRounds} rounds each`);
  using ctx = await HeContext.create(preset);
  const steps = innerSumSteps(HEAD_WIDTH);
  using keys = generateKeys(ctx, { galoisSteps: steps });
  const material = keys.exportPublic();
  const inputs = Array.from({ length: plan.poolTasks }, (_, k) => {
    using pt = encodeSlots(
      ctx,
      Array.from({ length: HEAD_WIDTH }, (_, i) => Math.cos(k + i)),
      { period: HEAD_WIDTH },
    );
    using ct = encryptSymmetric(keys, pt);
    return saveCiphertext(ct);
  });
  const handlers = new URL('./_pool-tasks.ts', import.meta.url);
  type H = typeof poolHandlers;
  await using one = new WorkerPool<H>({ handlers, size: 1 });
  await using two = new WorkerPool<H>({ handlers, size: 2 });
  for (const pool of [one, two]) {
    await pool.ready();
    const setup = {
      preset,
      publicKey: material.publicKey,
      galoisKeys: material.galoisKeys!,
      galoisSteps: [...material.galoisSteps],
    };
    // One setup per worker: right after ready() every worker is idle, so each takes one.
    const ids = await Promise.all(
      Array.from({ length: pool.size }, () => pool.run('setup', setup, { transfer: false })),
    );
    if (new Set(ids).size !== pool.size) throw new Error('pool setup did not reach every worker');
  }
  // Also record how much CPU the process actually got: on a shared machine the scheduler may give
  // the whole process a fixed share, and then a second worker cannot add throughput.
  const round = async (pool: WorkerPool<H>) => {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    await Promise.all(
      inputs.map((ct) => pool.run('head', { preset, ct }, { transfer: false, timeoutMs: 60_000 })),
    );
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return { perSec: plan.poolTasks / (ms / 1000), cores: (cpu.user + cpu.system) / 1000 / ms };
  };
  await round(one); // warm-up: JIT and SEAL memory pools
  await round(two);
  const r1: number[] = [];
  const r2: number[] = [];
  const c1: number[] = [];
  const c2: number[] = [];
  for (let i = 0; i < plan.poolRounds; i++) {
    const a = await round(one);
    const b = await round(two);
    r1.push(a.perSec);
    c1.push(a.cores);
    r2.push(b.perSec);
    c2.push(b.cores);
  }
  cores = [median(c1), median(c2)];
  const perSec1 = median(r1);
  const perSec2 = median(r2);
  const speedup = perSec2 / perSec1;
  log(
    `pool: 1 worker ${perSec1.toFixed(1)} tasks/s (${cores[0].toFixed(2)} cores busy), ` +
      `2 workers ${perSec2.toFixed(1)} tasks/s (${cores[1].toFixed(2)} cores busy), ×${speedup.toFixed(2)}`,
  );
  rows.push({ preset, op: 'pool head task, 1 worker (ms/task)', ms: Number((1000 / perSec1).toFixed(4)) });
  rows.push({ preset, op: 'pool head task, 2 workers (ms/task)', ms: Number((1000 / perSec2).toFixed(4)) });
  return Number(speedup.toFixed(3));
}

function table(result: HeBenchResult, plan: Plan): string {
  const out: string[] = [];
  const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3));
  const kib = (b: number) =>
    b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(2)} MiB` : `${(b / 1024).toFixed(1)} KiB`;
  for (const preset of plan.presets) {
    out.push(`\n${preset}  (median ms)`);
    for (const r of result.rows.filter((r) => r.preset === preset && !r.op.startsWith('pool')))
      out.push(`  ${r.op.padEnd(28)} ${fmt(r.ms).padStart(10)}`);
    out.push('  sizes (uncompressed)');
    for (const s of result.sizes.filter((s) => s.preset === preset))
      out.push(`  ${s.what.padEnd(28)} ${String(s.bytes).padStart(10)} B  ${kib(s.bytes)}`);
  }
  out.push(`\nworker pool (${plan.poolPreset}, ${plan.poolTasks} tasks per round)`);
  const poolRows = result.rows.filter((r) => r.op.startsWith('pool'));
  for (const [i, r] of poolRows.entries()) {
    // CPU ms per task = cores busy × wall ms per task: equal for 1 and 2 workers means the pool adds
    // no per-task overhead, whatever share of the machine the scheduler granted.
    const busy = `${cores[i].toFixed(2)} cores busy, ${(cores[i] * r.ms).toFixed(1)} CPU ms/task`;
    out.push(`  ${r.op.padEnd(36)} ${fmt(r.ms).padStart(8)}  (${(1000 / r.ms).toFixed(1)} tasks/s, ${busy})`);
  }
  out.push(`  speedup 2 vs 1 workers: ×${result.poolSpeedup}`);
  // Shared machines: other jobs inflate every number, the pool speedup most of all.
  const load = loadavg();
  out.push(`\n${availableParallelism()} cores, load average ${load.map((x) => x.toFixed(1)).join(' ')}`);
  if (load[0] > availableParallelism())
    out.push(
      'machine busy: other jobs compete for the cores, so timings are inflated and the speedup understated',
    );
  return out.join('\n');
}

const HELP = `usage: npm run bench -- he [--json] [--quick] [--big]
  --json   print one JSON object {"rows","sizes","poolSpeedup"} on stdout (progress on stderr)
  --quick  4096 only, few repetitions (a smoke test)
  --big    also ckks-32768-d16 (context ~14 s, ~1 GB of memory)
Through npm, use \`npm run -s bench -- he --json\`: without -s npm prints its own banner on stdout.`;

/** Runs the bench; see {@link HELP}. */
export async function run(args: readonly string[]): Promise<void> {
  if (args.includes('--help')) {
    console.log(HELP);
    return;
  }
  const unknown = args.filter((a) => !['--json', '--quick', '--big'].includes(a));
  if (unknown.length > 0) throw new Error(`bench he: unknown option(s) ${unknown.join(' ')}\n${HELP}`);
  const json = args.includes('--json');
  const quick = args.includes('--quick');
  const byN = (preset: string, small: number, mid: number, large: number, huge: number) =>
    preset.includes('-4096-')
      ? small
      : preset.includes('-8192-')
        ? mid
        : preset.includes('-16384-')
          ? large
          : huge;
  const plan: Plan = quick
    ? {
        presets: ['ckks-4096-d1'],
        reps: () => 5,
        slowReps: () => 2,
        poolPreset: 'ckks-4096-d1',
        poolTasks: 12,
        poolRounds: 1,
      }
    : {
        presets: [
          'ckks-4096-d1',
          'ckks-8192-d2',
          'ckks-16384-d7',
          ...(args.includes('--big') ? ['ckks-32768-d16'] : []),
        ],
        reps: (p) => byN(p, 41, 25, 11, 5),
        slowReps: (p) => byN(p, 5, 5, 3, 1),
        poolPreset: 'ckks-8192-d2',
        poolTasks: 48,
        poolRounds: 3,
      };
  const rows: Row[] = [];
  const sizes: Size[] = [];
  log(`loading SEAL (${availableParallelism()} cores, load average ${loadavg()[0].toFixed(1)})`);
  (await HeContext.create('ckks-4096-d1'))[Symbol.dispose](); // SEAL's one-time load is not "context creation"
  for (const preset of plan.presets) {
    log(`${preset}:`);
    await benchPreset(preset, plan, rows, sizes);
  }
  const poolSpeedup = await benchPool(plan, rows);
  const result: HeBenchResult = { rows, sizes, poolSpeedup };
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else console.log(table(result, plan));
}

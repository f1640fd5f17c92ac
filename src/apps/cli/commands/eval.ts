import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseCnnModel } from '../../../nn/cnn/ir.ts';
import { EVAL_SETS, evalSet, registeredSet } from '../../../nn/cnn/results-registry.node.ts';
import {
  floorChecks,
  pct,
  type ResultRow,
  resultsJson,
  resultsTables,
} from '../../../nn/cnn/results-report.ts';
import { measureRow } from '../../../nn/cnn/results-row.ts';
import { evaluateEncrypted } from '../../../nn/eval/encrypted-eval.node.ts';
import { type CliCommand, failureLine } from '../command.ts';

const usage = `usage: blinddx eval --model models/<name> [options]

Compares encrypted and plaintext results of a model on a test set. The kind of model is read from
<dir>/model.json:

Split model (model.json, backbone.onnx, head.json): the client encrypts each embedding, the server
evaluates the private head under encryption with masked, re-randomized, flooded results, the
client decrypts; prints plaintext and encrypted accuracy and AUC, decision agreement, max/mean
|Δ probability|.

CNN (model.json in the blinddx-cnn format): the test images run through plaintext (float64
reference), simulated (CKKS noise model) and encrypted (real SEAL) execution; prints accuracy of
each, decision agreement, accuracy drop, max |Δlogit|, the issue-7 floors, and the single-image
latency, bytes up/down and key sizes of the protected latency plan (the served path).

options (both kinds):
  --model <dir>          model folder
  --limit <n>            split model: the first n images; CNN: a seeded subset of n images
  --json                 print the result as one JSON object
options (split model):
  --split <name>         test (default) or val
options (CNN):
  --dataset <name>       test set: ${Object.keys(EVAL_SETS).join(', ')}
                         (default: the set the model is registered with in the results pipeline)
  --seed <s>             subset seed (default 1): first n of a seeded shuffle of the test split
  --mode <m>             encrypted accuracy in "throughput" mode (default: one image per slot, up to
                         N/2 images per batch) or "latency" mode (one image per ciphertext)
  --protect on|off       output protection, as served (default on); off = the bare program
  --sim-n <n>            simulate only the first n images (default all; 0 = skip)
  --latency-images <k>   throughput mode: single images then timed in the latency plan
                         (default 5; median reported); latency mode times all n
  --md <file>            also write the results table (Markdown)
  --json-out <file>      also write the results (JSON, the docs/results.json schema)`;

/** The model.json format field, or undefined when the folder has none. */
function modelFormat(dir: string): string | undefined {
  const f = join(dir, 'model.json');
  if (!existsSync(f)) return undefined;
  const j = JSON.parse(readFileSync(f, 'utf8')) as { format?: unknown };
  return typeof j.format === 'string' ? j.format : undefined;
}

/** The dataset a CNN folder is evaluated on: --dataset, the registry, or training.json's "dataset". */
function cnnDataset(dir: string, flag: string | undefined): string | undefined {
  if (flag !== undefined) return flag;
  const reg = registeredSet(basename(dir));
  if (reg !== undefined) return reg;
  const t = join(dir, 'training.json');
  if (!existsSync(t)) return undefined;
  const d = (JSON.parse(readFileSync(t, 'utf8')) as { dataset?: unknown }).dataset;
  return typeof d === 'string' && d in EVAL_SETS ? d : undefined;
}

const positiveInt = (v: unknown, zero = false) => {
  if (v === undefined) return undefined;
  const x = Number(v);
  return Number.isInteger(x) && (x > 0 || (zero && x === 0)) ? x : Number.NaN;
};

async function evalCnn(dir: string, values: Record<string, unknown>): Promise<number> {
  const fail = (msg: string) => {
    console.error(`blinddx eval: ${msg}\n\n${usage}`);
    return 2;
  };
  const name = cnnDataset(dir, values.dataset as string | undefined);
  if (name === undefined) return fail(`no test set known for ${dir}: pass --dataset`);
  if (!(name in EVAL_SETS)) return fail(`--dataset must be one of ${Object.keys(EVAL_SETS).join(', ')}`);
  const mode = (values.mode as string | undefined) ?? 'throughput';
  if (mode !== 'throughput' && mode !== 'latency') return fail('--mode must be throughput or latency');
  const protect = (values.protect as string | undefined) ?? 'on';
  if (protect !== 'on' && protect !== 'off') return fail('--protect must be on or off');
  const limit = positiveInt(values.limit);
  const seed = positiveInt(values.seed, true);
  const simN = positiveInt(values['sim-n'], true);
  const latencyImages = positiveInt(values['latency-images']);
  for (const [k, v] of Object.entries({ limit, seed, 'sim-n': simN, 'latency-images': latencyImages }))
    if (Number.isNaN(v))
      return fail(
        `--${k} must be a ${k === 'limit' || k === 'latency-images' ? 'positive' : 'non-negative'} integer`,
      );
  const model = parseCnnModel(JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')));
  const set = evalSet(name);
  const ds = set.load();
  const tty = process.stderr.isTTY;
  let last = '';
  const row: ResultRow = await measureRow(
    model,
    ds,
    { dataset: set.dataset, model: basename(dir), split: set.split },
    {
      ...(limit !== undefined ? { n: limit } : {}),
      ...(seed !== undefined ? { seed } : {}),
      ...(simN !== undefined ? { simN } : {}),
      ...(latencyImages !== undefined ? { latencyImages } : {}),
      mode,
      protect: protect === 'on',
      onProgress: (phase, done, total) => {
        const bar = '█'.repeat(Math.round((24 * done) / total)).padEnd(24, '░');
        const line = `${phase.padEnd(22)} ${bar} ${done}/${total}`;
        if (tty) process.stderr.write(`\r${line}${done === total ? '\n' : ''}`);
        else if (done === total || phase !== last) process.stderr.write(`${line}\n`);
        last = phase;
      },
    },
  );
  const command = `blinddx eval ${process.argv.slice(3).join(' ')}`.trim();
  const json = resultsJson([row], command);
  if (typeof values['json-out'] === 'string')
    writeFileSync(values['json-out'], `${JSON.stringify(json, null, 2)}\n`);
  if (typeof values.md === 'string')
    writeFileSync(
      values.md,
      `# ${row.model} on ${row.dataset}\n\n\`${command}\`\n\n${resultsTables([row]).join('\n')}\n`,
    );
  if (values.json === true) {
    console.log(JSON.stringify(json.rows[0]));
    return 0;
  }
  const sub =
    row.n === row.testSize ? `full test split (${row.n})` : `${row.n} of ${row.testSize} (seed ${row.seed})`;
  const lines = [
    '',
    `${row.model} on ${row.dataset}, ${set.split}: ${sub}`,
    '',
    `               accuracy   agreement`,
    `plaintext      ${pct(row.plainAcc).padStart(8)}`,
    `simulated      ${row.simN > 0 ? pct(row.simAcc).padStart(8) : '     n/a'}   ${row.simN > 0 ? `${pct(row.simAgreement).padStart(8)}  (${row.simN} images)` : ''}`,
    `encrypted      ${pct(row.encAcc).padStart(8)}   ${pct(row.agreement).padStart(8)}`,
    '',
    `accuracy drop       ${(100 * (row.plainAcc - row.encAcc)).toFixed(2)} points`,
    `max |Δlogit|        ${row.maxAbsLogitDelta.toExponential(2)}`,
    `encrypted run       ${row.encMode}, ${row.encProtected ? 'protected' : 'unprotected'}, ${row.encParams}, ${row.encMsPerImage.toFixed(1)} ms/image`,
    `latency / image     ${row.msPerImage.toFixed(0)} ms (median of ${row.latencyImages}, ${row.latencyProtected ? 'protected' : 'unprotected'}, ${row.latencyParams})`,
    `bytes up / down     ${row.bytesUp} / ${row.bytesDown}`,
    `Galois keys         ${row.galoisKeys}, ${row.galoisKeyBytes} bytes (relin ${row.relinKeyBytes} bytes)`,
    '',
    'issue-7 floors:',
    ...floorChecks(row).map((c) => `  ${c.met ? '✓' : '✗'} ${c.floor}: ${c.measured}`),
  ];
  console.log(lines.join('\n'));
  return 0;
}

/** `blinddx eval`: plaintext vs encrypted metrics for a split model or a CNN. */
export const evalCommand: CliCommand = {
  name: 'eval',
  summary: 'compare encrypted and plaintext results of a model on its test set',
  usage,
  options: {
    model: { type: 'string' },
    split: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
    dataset: { type: 'string' },
    seed: { type: 'string' },
    mode: { type: 'string' },
    protect: { type: 'string' },
    'sim-n': { type: 'string' },
    'latency-images': { type: 'string' },
    md: { type: 'string' },
    'json-out': { type: 'string' },
  },
  async run({ values }) {
    const dir = values.model as string | undefined;
    if (dir !== undefined && modelFormat(dir) === 'blinddx-cnn') {
      try {
        return await evalCnn(dir, values);
      } catch (e) {
        console.error(failureLine('eval', e));
        return 1;
      }
    }
    const split = (values.split as string | undefined) ?? 'test';
    if (dir === undefined || (split !== 'test' && split !== 'val')) {
      console.error(`blinddx eval: --model is required and --split must be test or val\n\n${usage}`);
      return 2;
    }
    const limit = values.limit === undefined ? undefined : Number(values.limit);
    if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
      console.error('blinddx eval: --limit must be a positive integer');
      return 2;
    }
    const tty = process.stderr.isTTY;
    const r = await evaluateEncrypted(dir, {
      split,
      ...(limit !== undefined ? { limit } : {}),
      onProgress: (done, total) => {
        if (done === total || done % 25 === 0) {
          const bar = '█'.repeat(Math.round((30 * done) / total)).padEnd(30, '░');
          process.stderr.write(
            `${tty ? '\r' : ''}encrypted eval ${bar} ${done}/${total}${tty && done < total ? '' : '\n'}`,
          );
        }
      },
    });
    if (values.json === true) {
      const { dataset, n, plainAcc, encAcc, plainAuc, encAuc, agreement, maxAbsDeltaP } = r;
      console.log(
        JSON.stringify({ dataset, n, plainAcc, encAcc, plainAuc, encAuc, agreement, maxAbsDeltaP }),
      );
      return 0;
    }
    const f = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(4));
    console.log(
      `\n${r.dataset} ${split} split, n = ${r.n} (preset ${r.preset}, embedding bound ±${r.embeddingBound})\n`,
    );
    console.log('              accuracy     AUC');
    console.log(`plaintext     ${f(r.plainAcc).padStart(8)}  ${f(r.plainAuc).padStart(6)}`);
    console.log(`encrypted     ${f(r.encAcc).padStart(8)}  ${f(r.encAuc).padStart(6)}`);
    console.log(`\ndecision agreement  ${(100 * r.agreement).toFixed(2)}%`);
    console.log(`max |Δp|            ${r.maxAbsDeltaP.toExponential(2)}`);
    console.log(`mean |Δp|           ${r.meanAbsDeltaP.toExponential(2)}`);
    const ms = r.msPerImage;
    console.log(
      `per image (ms)      encrypt ${ms.encrypt.toFixed(2)} · server ${ms.server.toFixed(2)} (+ mask ${ms.mask.toFixed(2)} off the request path) · decrypt ${ms.decrypt.toFixed(2)}`,
    );
    return 0;
  },
};

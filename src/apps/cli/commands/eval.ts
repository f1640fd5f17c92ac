import { evaluateEncrypted } from '../../../nn/eval/encrypted-eval.node.ts';
import type { CliCommand } from '../command.ts';

const usage = `usage: blinddx eval --model models/<name> [--limit N] [--split test|val] [--json]

Runs a split model's test set through the real encrypted path with vendor-owned test keys (the
client encrypts each embedding, the server evaluates the private head under encryption with masked,
re-randomized, flooded results, the client decrypts) and compares it with plaintext evaluation.

Prints plaintext and encrypted accuracy and AUC, decision agreement, and max/mean |Δ probability|.

options:
  --model <dir>    model folder with model.json, backbone.onnx, head.json
  --split <name>   test (default) or val
  --limit <n>      only the first n images
  --json           print {"dataset","n","plainAcc","encAcc","plainAuc","encAuc","agreement","maxAbsDeltaP"}`;

/** `blinddx eval`: plaintext vs encrypted metrics for a split model. */
export const evalCommand: CliCommand = {
  name: 'eval',
  summary: 'compare encrypted and plaintext results of a model on its test set',
  usage,
  options: {
    model: { type: 'string' },
    split: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ values }) {
    const dir = values.model as string | undefined;
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

import { HeContext } from '../../../he/context.ts';
import { saveCiphertext } from '../../../he/crypt.ts';
import { Evaluator } from '../../../he/evaluator.ts';
import { loadCiphertext } from '../../../he/hardened-load.ts';
import { generateKeys, materialSizes } from '../../../he/keys.ts';
import { decryptLogits, encryptEmbedding } from '../../../nn/coeff-head-client.ts';
import { clientPlanOf, planCoeffHead } from '../../../nn/coeff-head-plan.ts';
import { CoeffHeadEvaluator } from '../../../nn/coeff-head-server.ts';
import { loadMedMnist, type MedMnistName } from '../../../nn/data/medmnist.node.ts';
import { computeEmbeddings } from '../../../nn/eval/embeddings.node.ts';
import { embeddingBoundFrom } from '../../../nn/eval/encrypted-eval.node.ts';
import { evaluateHeadPlain, probabilities } from '../../../nn/head.ts';
import { loadSplitModelDir } from '../../../nn/train/evaluate.node.ts';
import type { CliCommand } from '../command.ts';

const usage = `usage: blinddx demo [--model models/pneumoniamnist] [--index N]

Runs the whole embedding flow on this machine and narrates each step: the client's keys and their
sizes, the backbone's embedding, what is sent, what the vendor sees and computes, the encrypted
result, the decrypted probabilities, and encrypted vs plaintext. The "vendor" runs in-process here;
it only ever receives public key material and ciphertexts.

options:
  --model <dir>   split model folder (default models/pneumoniamnist)
  --index <n>     which test image of the model's dataset (default 0)`;

const hex = (b: Uint8Array, n = 24) =>
  Buffer.from(b.subarray(0, n)).toString('hex').replace(/(..)/g, '$1 ').trim();
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

/** `blinddx demo`: the embedding flow end to end, narrated. */
export const demoCommand: CliCommand = {
  name: 'demo',
  summary: 'run the encrypted embedding flow locally and narrate every step',
  usage,
  options: { model: { type: 'string' }, index: { type: 'string' } },
  async run({ values }) {
    const dir = (values.model as string | undefined) ?? 'models/pneumoniamnist';
    const index = Number(values.index ?? 0);
    const { manifest, backbone, head } = loadSplitModelDir(dir);
    if (head.kind !== 'linear') {
      console.error('blinddx demo: only linear heads are supported by the demo');
      return 2;
    }
    const ds = loadMedMnist(manifest.dataset as MedMnistName, 'test');
    if (!Number.isInteger(index) || index < 0 || index >= ds.n) {
      console.error(`blinddx demo: --index must be in 0…${ds.n - 1}`);
      return 2;
    }
    const step = (n: number, title: string) => console.log(`\n${n}. ${title}`);
    console.log(
      `BlindDx demo — model "${manifest.name}" (${manifest.dataset}), classes: ${manifest.classes.join(', ')}`,
    );

    step(1, 'Vendor publishes the model: public backbone + a plan; the head weights stay private');
    const ref = await computeEmbeddings(
      backbone,
      manifest.preprocessing,
      loadMedMnist(manifest.dataset as MedMnistName, 'val'),
    );
    using ctx = await HeContext.create('ckks-8192-coeff');
    const plan = planCoeffHead(head, { params: ctx.params, embeddingBound: embeddingBoundFrom(ref.data) });
    const client = clientPlanOf(plan);
    console.log(
      `   preset ckks-8192-coeff: N=${ctx.params.polyModulusDegree}, ${ctx.params.totalBits}-bit modulus (128-bit secure)`,
    );
    console.log(
      `   rotation-free head: ${client.inputDim} inputs → ${client.outputs} logit(s) in coefficient(s) ${client.groups.flat().join(', ')}`,
    );
    console.log(
      `   predicted max |Δlogit| ${client.predictedMaxError.toExponential(1)}, noise flooded to 2^-${client.floodSecurityBits} statistical distance`,
    );

    step(2, 'Client makes its keys (the secret key never leaves this process)');
    let t = performance.now();
    using keys = generateKeys(ctx, {});
    const material = keys.exportPublic();
    const sizes = materialSizes(material);
    console.log(
      `   keygen ${(performance.now() - t).toFixed(0)} ms; uploaded once: public key ${kib(sizes.publicKey)}`,
    );
    console.log(`   Galois keys: none (no rotations needed) · relinearization keys: none`);

    step(3, `Client runs the backbone locally on test image #${index}`);
    const truth = manifest.classes[ds.labels[index]];
    t = performance.now();
    const emb = await computeEmbeddings(backbone, manifest.preprocessing, { ...ds, n: index + 1 }, {});
    const x = emb.data.subarray(index * emb.d, (index + 1) * emb.d);
    console.log(
      `   ${ds.width}×${ds.height} image → ${emb.d}-value embedding in ${(performance.now() - t).toFixed(0)} ms`,
    );
    console.log(`   embedding[0…5] = ${[...x.subarray(0, 6)].map((v) => v.toFixed(3)).join(', ')} …`);

    step(4, 'Client encrypts only the embedding and sends it');
    t = performance.now();
    const upload = encryptEmbedding(keys, client, x);
    console.log(
      `   encrypt ${(performance.now() - t).toFixed(1)} ms → ${kib(upload.length)} (seeded CKKS ciphertext)`,
    );
    console.log(`   first bytes: ${hex(upload)} …`);

    step(5, 'Vendor: loads the bytes defensively, evaluates the private head, masks the result');
    using server = new CoeffHeadEvaluator(ctx, head, plan);
    t = performance.now();
    const masks = server.createMasks(keys);
    const maskMs = performance.now() - t;
    t = performance.now();
    using input = loadCiphertext(ctx, upload, {
      layout: { kind: 'coeffs', length: emb.d },
      level: ctx.maxLevel,
      scale: 2 ** client.inputScaleBits,
    });
    const outs = server.evaluate(new Evaluator(ctx, keys), input, masks);
    const serverMs = performance.now() - t;
    const download = outs.reduce((a, o) => a + saveCiphertext(o).length, 0);
    console.log('   the vendor sees: a public key and ciphertexts — no image, no embedding, no result');
    console.log(
      `   head evaluation ${serverMs.toFixed(2)} ms (+ ${maskMs.toFixed(1)} ms mask made ahead of time)`,
    );
    console.log(
      `   returns ${outs.length} ciphertext(s), ${kib(download)}: every coefficient except the logits is uniform random`,
    );

    step(6, 'Client decrypts the logits and applies the exact sigmoid/softmax');
    t = performance.now();
    const logits = decryptLogits(keys, client, outs);
    for (const o of outs) o[Symbol.dispose]();
    const pEnc = probabilities(head, logits);
    console.log(`   decrypt ${(performance.now() - t).toFixed(1)} ms`);
    manifest.classes.forEach((c, i) => {
      console.log(`   ${c.padEnd(24)} ${(100 * pEnc[i]).toFixed(2).padStart(6)}%`);
    });
    console.log(`   (ground truth: ${truth}) — AI output is triage support, not a diagnosis`);

    step(7, 'Encrypted vs plaintext (possible here only because this demo holds both sides)');
    const pPlain = probabilities(head, evaluateHeadPlain(head, x));
    const delta = Math.max(...[...pEnc].map((p, i) => Math.abs(p - pPlain[i])));
    console.log(`   plaintext probabilities ${[...pPlain].map((p) => p.toFixed(8)).join(', ')}`);
    console.log(`   max |Δp| = ${delta.toExponential(2)}`);
    return 0;
  },
};

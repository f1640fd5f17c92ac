import { HeContext } from '../../he/context.ts';
import { Evaluator } from '../../he/evaluator.ts';
import { loadCiphertext } from '../../he/hardened-load.ts';
import { generateKeys } from '../../he/keys.ts';
import { decryptLogits, encryptEmbedding } from '../coeff-head-client.ts';
import { clientPlanOf, planCoeffHead } from '../coeff-head-plan.ts';
import { CoeffHeadEvaluator } from '../coeff-head-server.ts';
import { loadMedMnist, type MedMnistName, type Split } from '../data/medmnist.node.ts';
import { NnError } from '../errors.ts';
import { evaluateHeadPlain, probabilities } from '../head.ts';
import { argmax } from '../logits.ts';
import { loadSplitModelDir } from '../train/evaluate.node.ts';
import { accuracy, rocAuc } from '../train/metrics.ts';
import { computeEmbeddings } from './embeddings.node.ts';

/** Plaintext vs encrypted results of a split model on a test split (`blinddx eval --json`). */
export interface EncryptedEvalReport {
  readonly dataset: string;
  readonly n: number;
  readonly plainAcc: number;
  readonly encAcc: number;
  readonly plainAuc: number;
  readonly encAuc: number;
  /** Fraction of images whose encrypted decision equals the plaintext decision. */
  readonly agreement: number;
  readonly maxAbsDeltaP: number;
  readonly meanAbsDeltaP: number;
  readonly preset: string;
  readonly embeddingBound: number;
  readonly msPerImage: {
    readonly encrypt: number;
    readonly server: number;
    readonly mask: number;
    readonly decrypt: number;
  };
}

/**
 * Smallest power of two ≥ 4× the largest |embedding value| seen on a reference split. The plan's
 * precision scales with this bound; the client refuses embeddings beyond it rather than wrap.
 */
export function embeddingBoundFrom(data: Float32Array): number {
  let m = 0;
  for (const v of data) m = Math.max(m, Math.abs(v));
  return 2 ** Math.ceil(Math.log2(Math.max(4 * m, 2 ** -10)));
}

/**
 * Runs the vendor's test split through the real encrypted path — the client encrypts each
 * embedding with vendor-owned test keys, the server loads it through hardened loading and
 * evaluates the rotation-free head with fresh masks, the client decrypts — and compares every
 * decision and probability with the float64 head.
 */
export async function evaluateEncrypted(
  dir: string,
  opts: { split?: Split; limit?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<EncryptedEvalReport> {
  const { manifest, backbone, head } = loadSplitModelDir(dir);
  if (head.kind !== 'linear')
    throw new NnError('NN_INVALID_ARGUMENT', 'evaluateEncrypted: only linear heads are supported so far');
  const dataset = manifest.dataset as MedMnistName;
  const ref = await computeEmbeddings(backbone, manifest.preprocessing, loadMedMnist(dataset, 'val'));
  const bound = embeddingBoundFrom(ref.data);
  const ds = loadMedMnist(dataset, opts.split ?? 'test');
  const emb = await computeEmbeddings(
    backbone,
    manifest.preprocessing,
    ds,
    opts.limit !== undefined ? { limit: opts.limit } : {},
  );
  const preset = 'ckks-8192-coeff';
  using ctx = await HeContext.create(preset);
  using keys = generateKeys(ctx, {});
  const plan = planCoeffHead(head, { params: ctx.params, embeddingBound: bound });
  const client = clientPlanOf(plan);
  using server = new CoeffHeadEvaluator(ctx, head, plan);
  const ev = new Evaluator(ctx, keys);
  const n = emb.n;
  const d = emb.d;
  const plainScore = new Float64Array(n);
  const encScore = new Float64Array(n);
  const plainPred = new Uint8Array(n);
  const encPred = new Uint8Array(n);
  let maxAbs = 0;
  let sumAbs = 0;
  let agree = 0;
  const t = { encrypt: 0, server: 0, mask: 0, decrypt: 0 };
  for (let i = 0; i < n; i++) {
    const x = emb.data.subarray(i * d, (i + 1) * d);
    const pPlain = probabilities(head, evaluateHeadPlain(head, x));
    let t0 = performance.now();
    const bytes = encryptEmbedding(keys, client, x);
    t.encrypt += performance.now() - t0;
    t0 = performance.now();
    const masks = server.createMasks(keys);
    t.mask += performance.now() - t0;
    t0 = performance.now();
    using input = loadCiphertext(ctx, bytes, {
      layout: { kind: 'coeffs', length: d },
      level: ctx.maxLevel,
      scale: 2 ** client.inputScaleBits,
    });
    const outs = server.evaluate(ev, input, masks);
    t.server += performance.now() - t0;
    t0 = performance.now();
    const logits = decryptLogits(keys, client, outs);
    for (const o of outs) o[Symbol.dispose]();
    t.decrypt += performance.now() - t0;
    const pEnc = probabilities(head, logits);
    for (let j = 0; j < pEnc.length; j++) {
      const delta = Math.abs(pEnc[j] - pPlain[j]);
      maxAbs = Math.max(maxAbs, delta);
      sumAbs += delta / pEnc.length;
    }
    plainPred[i] = argmax(pPlain);
    encPred[i] = argmax(pEnc);
    plainScore[i] = pPlain[1] ?? 0;
    encScore[i] = pEnc[1] ?? 0;
    if (plainPred[i] === encPred[i]) agree++;
    opts.onProgress?.(i + 1, n);
  }
  const labels = ds.labels.subarray(0, n);
  const binary = head.classes.length === 2;
  return {
    dataset,
    n,
    plainAcc: accuracy(plainPred, labels),
    encAcc: accuracy(encPred, labels),
    plainAuc: binary ? rocAuc(plainScore, labels) : Number.NaN,
    encAuc: binary ? rocAuc(encScore, labels) : Number.NaN,
    agreement: agree / n,
    maxAbsDeltaP: maxAbs,
    meanAbsDeltaP: sumAbs / n,
    preset,
    embeddingBound: bound,
    msPerImage: { encrypt: t.encrypt / n, server: t.server / n, mask: t.mask / n, decrypt: t.decrypt / n },
  };
}

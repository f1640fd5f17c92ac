// CIFAR-10 with an HE-friendly CNN: trains with the project's float32 library (src/nn/train), exports
// the CNN IR, plans it for encrypted inference and measures it. Heavy: run by hand, never from
// `npm test`; use `nice -n 5` and log to /tmp.
//
//   node src/nn/cnn/train-cifar10.node.ts --mode plan  [--he 1]        plan a random-weight net (+ 1 encrypted image)
//   node src/nn/cnn/train-cifar10.node.ts --mode bench                 seconds per training batch
//   node src/nn/cnn/train-cifar10.node.ts --mode train --epochs 8 [--out models/cifar10-x2]
//   node src/nn/cnn/train-cifar10.node.ts --mode train --arch c64k6s4p1,c64k3s1 --init-from models/cifar10-x2 --init-unpool
//                                                                     (go on without the last avgpool, same function at start)
//   node src/nn/cnn/train-cifar10.node.ts --mode eval --model models/cifar10-x2 [--sim 1000] [--enc 3]
//
// Net (default): conv 3→32 3×3/2 pad 1 → BN → x² → conv 32→32 3×3 pad 1 → BN → x² → avgpool 2×2 →
// flatten → dense 2048→10. BatchNorm folds into the convolutions, so the encrypted program is
// im2col conv, square, conv as BSGS diagonals, square, fused avgpool+dense (+ output protection).
// Split: the 50,000 training images are shuffled with Rng(seed) into 45,000 train / 5,000 validation
// (the kept epoch is chosen on validation; the 10,000 test images are only used by --mode eval).
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { HeContext } from '../../he/context.ts';
import { saveCiphertext } from '../../he/crypt.ts';
import { generateKeys } from '../../he/keys.ts';
import { CIFAR10_CLASSES, loadCifar10Jpeg } from '../data/cifar10.node.ts';
import type { ImageDataset } from '../data/dataset.ts';
import { loadCnnModelWeights, sequentialToCnnModel } from '../train/cnn-export.ts';
import { fit, type TensorData } from '../train/fit.ts';
import type { LayerConfig } from '../train/layer.ts';
import { Rng } from '../train/rng.ts';
import { Sequential } from '../train/sequential.ts';
import { decryptOutput, encryptInput, encryptInputSeeded, packInput } from './client.ts';
import { EncryptedCnn } from './encrypted-executor.ts';
import { runStages } from './executor.ts';
import { type CnnLayer, type CnnModel, parseCnnModel } from './ir.ts';
import { planCnn } from './planner.ts';
import { preprocessImage, referenceForward } from './reference.ts';
import { argmax, modelImage } from './results-eval.ts';
import { SimBackend } from './sim-backend.ts';
import { unpoolLastAvgpool } from './unpool.ts';

/**
 * Architecture spec: comma-separated blocks, `c<out>k<kernel>s<stride>[p<pad>]` = conv (default padding
 * (k−1)/2 for odd k, 0 for even k) → BatchNorm → x²; `p<k>` = avgpool k×k; `h<units>` = dense → BatchNorm → x².
 * The head (flatten → dense 10) is appended. Default "c16k3s2,c64k3s2,p2". BatchNorm is the
 * library's (`src/nn/train/batchnorm.ts`: γ/β not weight-decayed, running statistics kept with the
 * best epoch).
 */
export function buildNet(spec: string, seed: number): Sequential {
  const configs: LayerConfig[] = [];
  let flat = false;
  for (const block of spec.split(',')) {
    let m = /^c(\d+)k(\d+)s(\d+)(?:p(\d+))?$/.exec(block);
    if (m) {
      const k = Number(m[2]);
      configs.push(
        {
          type: 'conv2d',
          outChannels: Number(m[1]),
          kernel: k,
          stride: Number(m[3]),
          padding: m[4] !== undefined ? Number(m[4]) : k % 2 === 1 ? (k - 1) / 2 : 0,
        },
        { type: 'batchnorm' },
        { type: 'square' },
      );
      continue;
    }
    m = /^p(\d+)$/.exec(block);
    if (m) {
      configs.push({ type: 'avgpool', kernel: Number(m[1]), stride: Number(m[1]) });
      continue;
    }
    m = /^h(\d+)$/.exec(block);
    if (m) {
      if (!flat) configs.push({ type: 'flatten' });
      flat = true;
      configs.push({ type: 'dense', units: Number(m[1]) }, { type: 'batchnorm' }, { type: 'square' });
      continue;
    }
    throw new Error(`bad --arch block "${block}"`);
  }
  if (!flat) configs.push({ type: 'flatten' });
  configs.push({ type: 'dense', units: 10 });
  return new Sequential([3, 32, 32], configs, new Rng(seed));
}

const f8 = (a: ArrayLike<number>) => Array.from(a, (v) => Number(Number(v).toPrecision(8)));

/** The IR of the network (BatchNorm with its running statistics), every number rounded to 8 digits. */
export function exportModel(net: Sequential, pre: { mean: number[]; std: number[] }, name: string): CnnModel {
  const ir = sequentialToCnnModel(net, {
    name,
    preprocessing: { scale: 1 / 255, mean: pre.mean, std: pre.std },
    classes: CIFAR10_CLASSES,
  });
  const layers = ir.layers.map((l): CnnLayer => {
    switch (l.op) {
      case 'conv2d':
      case 'dense':
        return { ...l, weight: f8(l.weight), bias: f8(l.bias ?? []) };
      case 'batchnorm':
        return { ...l, gamma: f8(l.gamma), beta: f8(l.beta), mean: f8(l.mean), variance: f8(l.variance) };
      default:
        return l;
    }
  });
  return parseCnnModel({ ...ir, layers });
}

/** Per-channel mean/std of the (training) images in [0, 1], rounded to 4 digits. */
function channelStats(d: ImageDataset, idx: Uint32Array): { mean: number[]; std: number[] } {
  const s = [0, 0, 0];
  const s2 = [0, 0, 0];
  for (const i of idx)
    for (let p = 0; p < 1024; p++)
      for (let c = 0; c < 3; c++) {
        const v = d.images[i * 3072 + p * 3 + c] / 255;
        s[c] += v;
        s2[c] += v * v;
      }
  const n = idx.length * 1024;
  const mean = s.map((v) => Number((v / n).toFixed(4)));
  const std = s2.map((v, c) => Number(Math.sqrt(v / n - (s[c] / n) ** 2).toFixed(4)));
  return { mean, std };
}

function tensors(d: ImageDataset, idx: Uint32Array, pre: { mean: number[]; std: number[] }): TensorData {
  const x = new Float32Array(idx.length * 3072);
  const labels = new Uint8Array(idx.length);
  idx.forEach((i, k) => {
    const src = d.images.subarray(i * 3072, (i + 1) * 3072);
    for (let p = 0; p < 1024; p++)
      for (let c = 0; c < 3; c++)
        x[k * 3072 + c * 1024 + p] = (src[p * 3 + c] / 255 - pre.mean[c]) / pre.std[c];
    labels[k] = d.labels[i];
  });
  return { x, labels, n: idx.length, shape: [3, 32, 32] };
}

/** Seeded 45,000 / 5,000 split of the training images. */
function split(n: number, seed: number, valN: number): { train: Uint32Array; val: Uint32Array } {
  const order = new Rng(seed).shuffle(Uint32Array.from({ length: n }, (_, i) => i));
  return { train: order.slice(valN), val: order.slice(0, valN) };
}

function describePlan(model: CnnModel) {
  const t = performance.now();
  const plan = planCnn(model);
  const ms = performance.now() - t;
  const p = plan.client.params;
  const stages = plan.server.stages.map((s) =>
    s.kind === 'linear'
      ? `linear(${s.giants.reduce((a, g) => a + g.terms.length, 0)} diags, ${s.babySteps.length}+${s.giants.length} rot, P=${s.period}→${s.outPeriod})`
      : s.kind === 'im2col-conv'
        ? `im2col(${s.weights.length} products, P=${s.period}→${s.outPeriod})`
        : s.kind,
  );
  return {
    plan,
    info: {
      planMs: Math.round(ms),
      N: p.polyModulusDegree,
      coeffModulusBits: p.coeffModulusBits,
      scaleBits: p.scaleBits,
      preset: plan.client.preset ?? null,
      depth: plan.stats.depth,
      levels: plan.stats.schedule.map((s) => `${s.kind}@${s.level}`).join(' '),
      stages,
      galoisKeys: plan.stats.galoisKeys,
      rotations: plan.stats.rotations,
      plainMultiplications: plan.stats.plainMultiplications,
      protection: plan.client.protection ?? null,
    },
  };
}

/** Encrypted latency of a few single images in the served (protected) plan, with key and wire bytes. */
async function measureEncrypted(
  model: CnnModel,
  plan: ReturnType<typeof planCnn>,
  images: ArrayLike<number>[],
  log: (s: string) => void,
  progress?: (done: { serverMs: number; maxAbsDelta: number; plain: number; he: number }[]) => void,
) {
  using ctx = await HeContext.create(plan.client.params);
  let t = performance.now();
  using keys = generateKeys(ctx, { relin: plan.client.relin, galoisSteps: plan.client.galoisSteps });
  const keygenMs = performance.now() - t;
  const material = keys.exportPublic();
  using cnn = new EncryptedCnn(ctx, keys, plan.server);
  const bytesUp = encryptInputSeeded(ctx, keys, plan.client, images[0]).length;
  let bytesDown = 0;
  const perImage: { serverMs: number; totalMs: number; maxAbsDelta: number; plain: number; he: number }[] =
    [];
  for (const [j, px] of images.entries()) {
    const want = referenceForward(model, preprocessImage(model, px));
    const t0 = performance.now();
    using ct = encryptInput(ctx, keys, plan.client, px);
    t = performance.now();
    using out = cnn.infer(ct);
    const serverMs = performance.now() - t;
    if (j === 0) bytesDown = saveCiphertext(out).length;
    const got = decryptOutput(keys, plan.client, out);
    const totalMs = performance.now() - t0;
    let d = 0;
    want.forEach((w, k) => {
      d = Math.max(d, Math.abs(w - got[k]));
    });
    perImage.push({ serverMs, totalMs, maxAbsDelta: d, plain: argmax(want), he: argmax(got) });
    progress?.(perImage);
    log(
      `  encrypted image ${j + 1}/${images.length}: server ${(serverMs / 1000).toFixed(2)} s, total ${(totalMs / 1000).toFixed(2)} s, max |Δlogit| ${d.toExponential(2)}`,
    );
  }
  return {
    keygenMs: Math.round(keygenMs),
    galoisKeyCount: plan.client.galoisSteps.length,
    galoisKeyBytes: material.galoisKeys?.length ?? 0,
    relinKeyBytes: material.relinKeys?.length ?? 0,
    publicKeyBytes: material.publicKey.length,
    bytesUp,
    bytesDown,
    perImage,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string', default: 'plan' },
      epochs: { type: 'string', default: '8' },
      seed: { type: 'string', default: '1' },
      lr: { type: 'string', default: '2e-3' },
      batch: { type: 'string', default: '64' },
      wd: { type: 'string', default: '5e-4' },
      arch: { type: 'string', default: 'c16k3s2,c64k3s2,p2' },
      val: { type: 'string', default: '5000' },
      limit: { type: 'string', default: '0' },
      out: { type: 'string', default: 'models/cifar10-x2' },
      model: { type: 'string', default: 'models/cifar10-x2' },
      he: { type: 'string', default: '0' },
      sim: { type: 'string', default: '1000' },
      enc: { type: 'string', default: '3' },
      plain: { type: 'string', default: '1' },
      'enc-offset': { type: 'string', default: '0' },
      'eval-out': { type: 'string' },
      log: { type: 'string' },
      deadline: { type: 'string' },
      'init-from': { type: 'string' },
      'init-unpool': { type: 'boolean', default: false },
    },
  });
  const log = (s: string) => {
    console.log(s);
    if (values.log) appendFileSync(values.log, `${s}\n`);
  };
  const seed = Number(values.seed);
  const arch = values.arch!;

  if (values.mode === 'plan') {
    const net = buildNet(arch, seed);
    const model = exportModel(net, { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] }, 'cifar10-random');
    const { plan, info } = describePlan(model);
    log(JSON.stringify({ arch, ...info }, null, 1));
    const nHe = Number(values.he);
    if (nHe > 0) {
      const rng = new Rng(seed + 7);
      const imgs = Array.from({ length: nHe }, () => Uint8Array.from({ length: 3072 }, () => rng.int(256)));
      log(JSON.stringify(await measureEncrypted(model, plan, imgs, log), null, 1));
    }
    return;
  }

  if (values.mode === 'bench' || values.mode === 'train') {
    const t0 = performance.now();
    const trainRaw = loadCifar10Jpeg('train');
    log(`decoded ${trainRaw.n} training JPEGs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const valN = Number(values.val);
    const { train: trainIdx, val: valIdx } = split(trainRaw.n, seed, valN);
    const pre = channelStats(trainRaw, trainIdx);

    const limit = Number(values.limit);
    const tIdx = limit > 0 ? trainIdx.slice(0, limit) : trainIdx;
    const train = tensors(trainRaw, tIdx, pre);
    const val = tensors(trainRaw, valIdx, pre);
    const net = buildNet(arch, seed);
    let previous: unknown;
    if (values['init-from'] !== undefined) {
      const from = resolve(values['init-from']);
      const init = parseCnnModel(JSON.parse(readFileSync(join(from, 'model.json'), 'utf8')));
      loadCnnModelWeights(net, values['init-unpool'] ? unpoolLastAvgpool(init) : init);
      previous = JSON.parse(readFileSync(join(from, 'training.json'), 'utf8'));
      log(`initialised from ${from}`);
    }
    const batchSize = Number(values.batch);
    const epochs = values.mode === 'bench' ? 1 : Number(values.epochs);
    const out = resolve(values.out!);
    const name = out.split('/').at(-1)!;
    mkdirSync(out, { recursive: true });
    const tStart = performance.now();
    let tEpoch = performance.now();
    let lossAvg = 0;
    const history: unknown[] = [];
    let bestVal = -1;
    let bestEpoch = 0;
    const meta = () => ({
      seed,
      arch,
      epochs,
      batchSize,
      lr: Number(values.lr),
      weightDecay: Number(values.wd),
      optimizer: 'AdamW (src/nn/train Adam, decoupled decay), cosine LR per epoch (src/nn/train fit)',
      augment: 'shift ±4 px with edge replication + horizontal flip (src/nn/train augment)',
      split: `training images shuffled with Rng(${seed}): ${tIdx.length} train / ${valIdx.length} validation (selection); test set unused in training`,
      preprocessing: pre,
      command: `node src/nn/cnn/train-cifar10.node.ts ${process.argv.slice(2).join(' ')}`,
      bestEpoch,
      bestValAccuracy: bestVal,
      history,
      ...(previous !== undefined
        ? { initFrom: values['init-from'], ...(values['init-unpool'] ? { initUnpool: true } : {}), previous }
        : {}),
    });
    fit(net, train, val, {
      epochs,
      batchSize,
      lr: Number(values.lr),
      weightDecay: Number(values.wd),
      seed,
      outputs: 10,
      select: 'accuracy',
      augment: { maxShift: 4, flip: true },
      onBatch: (r) => {
        lossAvg = r.batch === 1 ? r.loss : 0.98 * lossAvg + 0.02 * r.loss;
        if (r.batch % (values.mode === 'bench' ? 10 : 50) === 0 || r.batch === r.batches) {
          const el = (performance.now() - tEpoch) / 1000;
          const eta = (el / r.batch) * (r.batches - r.batch);
          log(
            `epoch ${r.epoch}/${epochs} batch ${r.batch}/${r.batches} loss ${lossAvg.toFixed(4)} ${(el / r.batch).toFixed(3)} s/batch, epoch ETA ${eta.toFixed(0)} s`,
          );
        }
        if (values.mode === 'bench' && r.batch === 30) throw new Error('bench done');
        // Hard stop (ISO time): the best checkpoint so far is already on disk.
        if (values.deadline !== undefined && Date.now() > Date.parse(values.deadline)) {
          log(`deadline ${values.deadline} reached in epoch ${r.epoch}, batch ${r.batch}: stopping`);
          process.exit(0);
        }
      },
      onEpoch: (r) => {
        tEpoch = performance.now();
        history.push({
          epoch: r.epoch,
          trainLoss: r.trainLoss,
          valAccuracy: r.val.accuracy,
          valLoss: r.val.loss,
          lr: r.lr,
          seconds: r.seconds,
        });
        log(
          `epoch ${r.epoch}/${r.epochs}: train loss ${r.trainLoss.toFixed(4)} val acc ${(100 * r.val.accuracy).toFixed(2)}% val loss ${r.val.loss.toFixed(4)} lr ${r.lr.toExponential(2)} (${r.seconds.toFixed(0)} s, total ${((performance.now() - tStart) / 60000).toFixed(1)} min)${r.isBest ? ' best' : ''}`,
        );
        if (r.isBest) {
          bestVal = r.val.accuracy;
          bestEpoch = r.epoch;
          // The checkpoint is the IR itself (with BatchNorm running statistics), written at once.
          writeFileSync(join(out, 'model.json'), `${JSON.stringify(exportModel(net, pre, name))}\n`);
        }
        writeFileSync(join(out, 'training.json'), `${JSON.stringify(meta(), null, 2)}\n`);
      },
    });
    log(`training done: best epoch ${bestEpoch}, val acc ${(100 * bestVal).toFixed(2)}%`);
    return;
  }

  if (values.mode === 'eval') {
    const dir = resolve(values.model!);
    const model = parseCnnModel(JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')));
    const test = loadCifar10Jpeg('test');
    const result: Record<string, unknown> = { model: dir.split('/').at(-1) };
    const { plan, info } = describePlan(model);
    result.plan = info;
    log(JSON.stringify(info));
    // Plaintext (float64 reference of the IR) on all test images.
    let t = performance.now();
    const plainPred = new Uint8Array(test.n);
    let ok = 0;
    for (let i = 0; i < (values.plain === '0' ? 0 : test.n); i++) {
      plainPred[i] = argmax(referenceForward(model, preprocessImage(model, modelImage(model, test, i))));
      if (plainPred[i] === test.labels[i]) ok++;
      if ((i + 1) % 2000 === 0) log(`  plaintext ${i + 1}/${test.n}: ${((100 * ok) / (i + 1)).toFixed(2)}%`);
    }
    if (values.plain !== '0') {
      result.plaintext = {
        images: test.n,
        accuracy: ok / test.n,
        msPerImage: (performance.now() - t) / test.n,
      };
      log(`plaintext accuracy on ${test.n} test images: ${((100 * ok) / test.n).toFixed(2)}%`);
    }
    // Seeded subset order for the simulated and encrypted runs.
    const order = new Rng(seed).shuffle(Uint32Array.from({ length: test.n }, (_, i) => i));
    const nSim = Number(values.sim);
    if (nSim > 0) {
      const sim = new SimBackend(
        { ...plan.client.params, scaleBits: plan.client.params.scaleBits! },
        { seed: 7 },
      );
      t = performance.now();
      let sOk = 0;
      let sAgree = 0;
      let pOk = 0;
      for (let j = 0; j < nSim; j++) {
        const i = order[j];
        const px = modelImage(model, test, i);
        const o = sim.decrypt(
          runStages(
            sim,
            plan.server.stages,
            sim.encrypt(packInput(plan.client, px), plan.client.input.period),
          ),
        );
        const k = argmax(Float64Array.from(plan.client.output.positions, (p) => o[p]));
        if (k === test.labels[i]) sOk++;
        const pp =
          values.plain === '0' ? argmax(referenceForward(model, preprocessImage(model, px))) : plainPred[i];
        if (k === pp) sAgree++;
        if (pp === test.labels[i]) pOk++;
        if ((j + 1) % 250 === 0) log(`  simulated ${j + 1}/${nSim}: ${((100 * sOk) / (j + 1)).toFixed(2)}%`);
      }
      result.simulated = {
        images: nSim,
        subset: `first ${nSim} of Rng(${seed}) shuffle of the test set`,
        accuracy: sOk / nSim,
        plaintextAccuracySameImages: pOk / nSim,
        agreement: sAgree / nSim,
        msPerImage: (performance.now() - t) / nSim,
      };
      log(JSON.stringify(result.simulated));
    }
    const nEnc = Number(values.enc);
    if (nEnc > 0) {
      const encOff = Number(values['enc-offset']);
      const imgs = Array.from({ length: nEnc }, (_, j) => modelImage(model, test, order[encOff + j]));
      const labels = Array.from({ length: nEnc }, (_, j) => test.labels[order[encOff + j]]);
      const enc = await measureEncrypted(model, plan, imgs, log, (done) => {
        if (values['eval-out'])
          writeFileSync(
            values['eval-out'],
            `${JSON.stringify({ ...result, encryptedPartial: { labels: labels.slice(0, done.length), perImage: done } }, null, 1)}\n`,
          );
      });
      const encrypted = {
        ...enc,
        images: nEnc,
        subset: `images ${encOff}…${encOff + nEnc - 1} of the Rng(${seed}) shuffle of the test set`,
        accuracy: enc.perImage.filter((r, j) => r.he === labels[j]).length / nEnc,
        plaintextAccuracySameImages: enc.perImage.filter((r, j) => r.plain === labels[j]).length / nEnc,
        agreement: enc.perImage.filter((r) => r.he === r.plain).length / nEnc,
        maxAbsLogitDelta: Math.max(...enc.perImage.map((r) => r.maxAbsDelta)),
        medianServerMs: enc.perImage.map((r) => r.serverMs).sort((a, b) => a - b)[Math.floor(nEnc / 2)],
      };
      result.encrypted = encrypted;
      log(JSON.stringify({ ...encrypted, perImage: undefined }));
    }
    if (values['eval-out']) writeFileSync(values['eval-out'], `${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  throw new Error(`unknown --mode ${values.mode}`);
}

if (import.meta.main) await main();

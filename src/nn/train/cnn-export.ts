import type { CnnLayer, CnnModel, Preprocessing } from '../cnn/ir.ts';
import { NnError } from '../errors.ts';
import type { BatchNorm } from './batchnorm.ts';
import type { Conv2d } from './conv2d.ts';
import type { Dense } from './dense.ts';
import type { Poly2 } from './poly.ts';
import type { Sequential } from './sequential.ts';

/** What the IR needs besides the layers. */
export interface CnnExportMeta {
  name: string;
  preprocessing: Preprocessing;
  classes?: readonly string[];
}

/** Training weights (float32) and running statistics (float64) → JSON numbers, exactly. */
const nums = (a: Float32Array | Float64Array): number[] => Array.from(a);

/**
 * Converts a trained HE-friendly {@link Sequential} (conv2d, batchnorm, square, poly, avgpool, gap,
 * flatten, dense) into the CNN IR the planner compiles. BatchNorm exports its inference form (γ, β,
 * running mean and variance, ε) as IR `batchnorm`, which the planner folds into the conv/dense before it. Weight layouts already agree (conv OIHW, dense
 * `[out][in]`); a dense layer after a feature map gets the implicit flatten made explicit, `gap`
 * becomes `globalavgpool` (which outputs a vector). ReLU and max-pool are refused with
 * `NN_ONNX_UNSUPPORTED` since they have no encrypted form.
 */
export function sequentialToCnnModel(net: Sequential, meta: CnnExportMeta): CnnModel {
  const layers: CnnLayer[] = [];
  let flat = net.inShape.length === 1;
  for (const layer of net.layers) {
    const c = layer.config;
    switch (c.type) {
      case 'conv2d': {
        const conv = layer as Conv2d;
        layers.push({
          op: 'conv2d',
          inChannels: layer.inShape[0],
          outChannels: c.outChannels,
          kernel: [c.kernel, c.kernel],
          stride: [c.stride, c.stride],
          padding: [c.padding, c.padding],
          weight: nums(conv.weight.value),
          bias: nums(conv.bias.value),
        });
        break;
      }
      case 'batchnorm': {
        const bn = layer as BatchNorm;
        layers.push({
          op: 'batchnorm',
          gamma: nums(bn.gamma.value),
          beta: nums(bn.beta.value),
          mean: nums(bn.runningMean),
          variance: nums(bn.runningVar),
          epsilon: bn.epsilon,
        });
        break;
      }
      case 'square':
        layers.push({ op: 'poly', coeffs: [0, 0, 1] });
        break;
      case 'poly':
        layers.push({ op: 'poly', coeffs: nums((layer as Poly2).coeffs.value) });
        break;
      case 'avgpool':
        layers.push({
          op: 'avgpool2d',
          kernel: [c.kernel, c.kernel],
          stride: [c.stride, c.stride],
          padding: [0, 0],
        });
        break;
      case 'gap':
        layers.push({ op: 'globalavgpool' });
        flat = true;
        break;
      case 'flatten':
        layers.push({ op: 'flatten' });
        flat = true;
        break;
      case 'dense': {
        if (!flat) layers.push({ op: 'flatten' });
        flat = true;
        const dense = layer as Dense;
        layers.push({
          op: 'dense',
          inFeatures: dense.weight.value.length / c.units,
          outFeatures: c.units,
          weight: nums(dense.weight.value),
          bias: nums(dense.bias.value),
        });
        break;
      }
      default:
        throw new NnError(
          'NN_ONNX_UNSUPPORTED',
          `sequentialToCnnModel: layer "${c.type}" has no encrypted form (use square/poly and avgpool)`,
        );
    }
  }
  return {
    format: 'blinddx-cnn',
    version: 1,
    name: meta.name,
    inputShape: [...net.inShape],
    preprocessing: meta.preprocessing,
    layers,
    ...(meta.classes === undefined ? {} : { classes: [...meta.classes] }),
  };
}

/**
 * Loads the weights and BatchNorm running statistics of `model` (an IR of the same architecture, as
 * written by {@link sequentialToCnnModel}) into `net`: the inverse of the export, so a checkpoint
 * saved as IR resumes training or evaluation with the same function. The IR must match the network
 * layer by layer (an IR `flatten` may stand before a dense layer on a feature map); anything else is
 * refused with `NN_SHAPE_MISMATCH`, naming the layer.
 */
export function loadCnnModelWeights(net: Sequential, model: CnnModel): void {
  const ir = model.layers;
  let at = 0;
  let flat = net.inShape.length === 1;
  const same = (a: readonly number[], b: readonly number[]) =>
    a.length === b.length && a.every((v, k) => v === b[k]);
  for (const [i, layer] of net.layers.entries()) {
    const c = layer.config;
    const bad = (msg: string) =>
      new NnError('NN_SHAPE_MISMATCH', `loadCnnModelWeights: network layer ${i} (${c.type}): ${msg}`);
    if (c.type === 'dense' && !flat && ir[at]?.op === 'flatten') at++;
    const l = ir[at++];
    if (l === undefined) throw bad(`the IR has only ${ir.length} layers`);
    const where = `IR layer ${at - 1} (${l.op})`;
    if (c.type === 'conv2d') {
      const conv = layer as Conv2d;
      if (
        l.op !== 'conv2d' ||
        l.inChannels !== layer.inShape[0] ||
        l.outChannels !== c.outChannels ||
        !same(l.kernel, [c.kernel, c.kernel]) ||
        !same(l.stride, [c.stride, c.stride]) ||
        !same(l.padding, [c.padding, c.padding]) ||
        l.weight.length !== conv.weight.value.length
      )
        throw bad(`${where} is not a conv2d of the same geometry`);
      conv.weight.value.set(l.weight);
      conv.bias.value.set(l.bias ?? new Array<number>(c.outChannels).fill(0));
    } else if (c.type === 'dense') {
      const dense = layer as Dense;
      if (l.op !== 'dense' || l.outFeatures !== c.units || l.weight.length !== dense.weight.value.length)
        throw bad(`${where} is not a dense layer of the same size`);
      dense.weight.value.set(l.weight);
      dense.bias.value.set(l.bias ?? new Array<number>(c.units).fill(0));
      flat = true;
    } else if (c.type === 'batchnorm') {
      const bn = layer as BatchNorm;
      if (l.op !== 'batchnorm' || l.gamma.length !== bn.gamma.value.length)
        throw bad(`${where} is not a batchnorm over ${bn.gamma.value.length} channels`);
      if (l.epsilon !== bn.epsilon)
        throw bad(`IR epsilon ${l.epsilon} differs from the layer's ${bn.epsilon}`);
      bn.gamma.value.set(l.gamma);
      bn.beta.value.set(l.beta);
      bn.runningMean.set(l.mean);
      bn.runningVar.set(l.variance);
    } else if (c.type === 'square') {
      if (l.op !== 'poly' || !same(l.coeffs, [0, 0, 1])) throw bad(`${where} is not x²`);
    } else if (c.type === 'poly') {
      if (l.op !== 'poly' || l.coeffs.length !== 3) throw bad(`${where} is not a degree-2 poly`);
      (layer as Poly2).coeffs.value.set(l.coeffs);
    } else if (c.type === 'avgpool') {
      if (
        l.op !== 'avgpool2d' ||
        !same(l.kernel, [c.kernel, c.kernel]) ||
        !same(l.stride, [c.stride, c.stride])
      )
        throw bad(`${where} is not the same avgpool`);
    } else if (c.type === 'gap' || c.type === 'flatten') {
      if (l.op !== (c.type === 'gap' ? 'globalavgpool' : 'flatten')) throw bad(`${where} differs`);
      flat = true;
    } else {
      throw new NnError(
        'NN_ONNX_UNSUPPORTED',
        `loadCnnModelWeights: layer "${c.type}" has no IR form (use square/poly and avgpool)`,
      );
    }
  }
  if (at !== ir.length)
    throw new NnError(
      'NN_SHAPE_MISMATCH',
      `loadCnnModelWeights: the IR has ${ir.length} layers, the network used ${at}`,
    );
}

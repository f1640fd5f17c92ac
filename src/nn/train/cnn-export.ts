import type { CnnLayer, CnnModel, Preprocessing } from '../cnn/ir.ts';
import { NnError } from '../errors.ts';
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

/** float32 training weights → JSON numbers (float32 values are exact in float64). */
const nums = (a: Float32Array): number[] => Array.from(a);

/**
 * Converts a trained HE-friendly {@link Sequential} (conv2d, square, poly, avgpool, gap, flatten,
 * dense) into the CNN IR the planner compiles. Weight layouts already agree (conv OIHW, dense
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

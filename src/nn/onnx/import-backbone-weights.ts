import { NnError } from '../errors.ts';
import type { Sequential } from '../train/sequential.ts';
import { decodeOnnxModel } from './onnx-model.ts';

/**
 * Copies the weights of a backbone written by `exportBackboneOnnx` into a network of the same
 * architecture (used to fine-tune a new split model from an existing backbone). Layers are matched by
 * the exporter's initializer names (`conv_<i>.weight`, `dense_<i>.bias`, …) and shapes must agree.
 * Layers the file lacks (e.g. a new head after the backbone) keep their initialisation.
 *
 * @returns the number of parameter tensors copied
 */
export function loadBackboneWeights(net: Sequential, onnxBytes: Uint8Array): number {
  const inits = new Map(decodeOnnxModel(onnxBytes).graph.initializers.map((t) => [t.name, t]));
  let copied = 0;
  net.layers.forEach((layer, i) => {
    const prefix =
      layer.config.type === 'conv2d' ? 'conv' : layer.config.type === 'dense' ? 'dense' : undefined;
    if (prefix === undefined) return;
    const [w, b] = layer.params();
    const tw = inits.get(`${prefix}_${i}.weight`);
    const tb = inits.get(`${prefix}_${i}.bias`);
    if (tw === undefined || tb === undefined) return;
    if (tw.data.length !== w.value.length || tb.data.length !== b.value.length) {
      throw new NnError(
        'NN_SHAPE_MISMATCH',
        `loadBackboneWeights: layer ${i} shapes differ (${tw.dims} vs ${w.value.length} values)`,
      );
    }
    w.value.set(tw.data);
    b.value.set(tb.data);
    copied += 2;
  });
  if (copied === 0)
    throw new NnError('NN_ONNX_UNSUPPORTED', 'loadBackboneWeights: no matching layer in the ONNX file');
  return copied;
}

import { NnError } from '../errors.ts';
import type { Conv2d } from '../train/conv2d.ts';
import type { Dense } from '../train/dense.ts';
import type { Layer } from '../train/layer.ts';
import { encodeOnnxModel, ONNX_FLOAT, type OnnxModel, type OnnxNode, type OnnxTensor } from './onnx-model.ts';

/** Options of {@link exportBackboneOnnx}. */
export interface BackboneExportOptions {
  /** Batch dimension of `image`/`embedding`: a number fixes it, a string makes it symbolic (default `'N'`). */
  batch?: number | string;
  producerVersion?: string;
  /** Extra `metadata_props` (e.g. dataset, preprocessing) copied into the file. */
  metadata?: Record<string, string>;
}

/**
 * Builds the ONNX graph (opset 13, IR 8) of a trained backbone: input `image` `[N, C, H, W]`,
 * output `embedding` `[N, d]`, using Conv, Relu, MaxPool, AveragePool, GlobalAveragePool, Flatten, Gemm.
 *
 * @example
 * ```ts
 * const bytes = exportBackboneOnnx(net.layers.slice(0, -1), [1, 28, 28]);
 * ```
 */
export function backboneToOnnxModel(
  layers: readonly Layer[],
  inShape: readonly number[],
  opts: BackboneExportOptions = {},
): OnnxModel {
  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = [];
  let cur = 'image';
  let flat = inShape.length === 1;
  const next = (i: number, op: string) => `${op.toLowerCase()}_${i}`;
  layers.forEach((layer, i) => {
    const c = layer.config;
    const out = next(i, c.type);
    switch (c.type) {
      case 'conv2d': {
        const conv = layer as Conv2d;
        const inC = layer.inShape[0];
        const wName = `conv_${i}.weight`;
        const bName = `conv_${i}.bias`;
        initializers.push(
          {
            name: wName,
            dims: [c.outChannels, inC, c.kernel, c.kernel],
            dataType: ONNX_FLOAT,
            data: conv.weight.value,
          },
          { name: bName, dims: [c.outChannels], dataType: ONNX_FLOAT, data: conv.bias.value },
        );
        nodes.push({
          opType: 'Conv',
          name: `conv_${i}`,
          inputs: [cur, wName, bName],
          outputs: [out],
          attributes: [
            { name: 'kernel_shape', kind: 'ints', value: [c.kernel, c.kernel] },
            { name: 'pads', kind: 'ints', value: [c.padding, c.padding, c.padding, c.padding] },
            { name: 'strides', kind: 'ints', value: [c.stride, c.stride] },
          ],
        });
        break;
      }
      case 'relu':
        nodes.push({ opType: 'Relu', name: `relu_${i}`, inputs: [cur], outputs: [out], attributes: [] });
        break;
      case 'square':
        nodes.push({
          opType: 'Mul',
          name: `square_${i}`,
          inputs: [cur, cur],
          outputs: [out],
          attributes: [],
        });
        break;
      case 'maxpool':
      case 'avgpool':
        nodes.push({
          opType: c.type === 'maxpool' ? 'MaxPool' : 'AveragePool',
          name: `${c.type}_${i}`,
          inputs: [cur],
          outputs: [out],
          attributes: [
            { name: 'kernel_shape', kind: 'ints', value: [c.kernel, c.kernel] },
            { name: 'strides', kind: 'ints', value: [c.stride, c.stride] },
          ],
        });
        break;
      case 'gap': {
        const pooled = `${out}_pooled`;
        nodes.push(
          { opType: 'GlobalAveragePool', name: `gap_${i}`, inputs: [cur], outputs: [pooled], attributes: [] },
          {
            opType: 'Flatten',
            name: `gap_${i}_flatten`,
            inputs: [pooled],
            outputs: [out],
            attributes: [{ name: 'axis', kind: 'int', value: 1 }],
          },
        );
        flat = true;
        break;
      }
      case 'flatten':
        nodes.push({
          opType: 'Flatten',
          name: `flatten_${i}`,
          inputs: [cur],
          outputs: [out],
          attributes: [{ name: 'axis', kind: 'int', value: 1 }],
        });
        flat = true;
        break;
      case 'dense': {
        const dense = layer as Dense;
        let input = cur;
        if (!flat) {
          // Gemm needs a 2-D input; a dense layer after a conv map flattens implicitly in training.
          input = `${out}_flat`;
          nodes.push({
            opType: 'Flatten',
            name: `dense_${i}_flatten`,
            inputs: [cur],
            outputs: [input],
            attributes: [{ name: 'axis', kind: 'int', value: 1 }],
          });
          flat = true;
        }
        const inDim = dense.weight.value.length / c.units;
        const wName = `dense_${i}.weight`;
        const bName = `dense_${i}.bias`;
        initializers.push(
          { name: wName, dims: [c.units, inDim], dataType: ONNX_FLOAT, data: dense.weight.value },
          { name: bName, dims: [c.units], dataType: ONNX_FLOAT, data: dense.bias.value },
        );
        nodes.push({
          opType: 'Gemm',
          name: `dense_${i}`,
          inputs: [input, wName, bName],
          outputs: [out],
          attributes: [{ name: 'transB', kind: 'int', value: 1 }],
        });
        break;
      }
      default:
        throw new NnError('NN_ONNX_UNSUPPORTED', `exportBackboneOnnx: layer ${JSON.stringify(c)}`);
    }
    cur = out;
  });
  const outShape = layers.length === 0 ? inShape : layers[layers.length - 1].outShape;
  if (outShape.length !== 1 || !flat) {
    throw new NnError(
      'NN_SHAPE_MISMATCH',
      `exportBackboneOnnx: backbone must end in a vector, got [${outShape}]`,
    );
  }
  // Rename the last tensor to the public output name.
  const last = nodes[nodes.length - 1];
  last.outputs = ['embedding'];
  const batch = opts.batch ?? 'N';
  return {
    irVersion: 8,
    opsetVersion: 13,
    producerName: 'blinddx',
    producerVersion: opts.producerVersion ?? '0.1.0',
    graph: {
      name: 'blinddx_backbone',
      nodes,
      initializers,
      inputs: [{ name: 'image', elemType: ONNX_FLOAT, shape: [batch, ...inShape] }],
      outputs: [{ name: 'embedding', elemType: ONNX_FLOAT, shape: [batch, outShape[0]] }],
    },
    metadata: opts.metadata ?? {},
  };
}

/** {@link backboneToOnnxModel} serialised to bytes. */
export function exportBackboneOnnx(
  layers: readonly Layer[],
  inShape: readonly number[],
  opts: BackboneExportOptions = {},
): Uint8Array {
  return encodeOnnxModel(backboneToOnnxModel(layers, inShape, opts));
}

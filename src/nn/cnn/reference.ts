import { NnError } from '../errors.ts';
import {
  type CnnLayer,
  type CnnModel,
  layerOutputShape,
  modelShapes,
  type Preprocessing,
  type Shape,
  shapeSize,
} from './ir.ts';

/**
 * Float64 plaintext reference of one layer: the meaning every executor (simulated, encrypted) must
 * reproduce within its stated tolerance. `outputs` (all earlier outputs, input first) serves `add`.
 */
export function referenceLayer(
  layer: CnnLayer,
  x: Float64Array,
  shape: Shape,
  index = 0,
  outputs: readonly Float64Array[] = [],
): Float64Array {
  const outShape = layer.op === 'add' ? shape : layerOutputShape(layer, shape, index);
  const out = new Float64Array(shapeSize(outShape));
  switch (layer.op) {
    case 'conv2d': {
      const [cin, h, w] = shape;
      const [, oh, ow] = outShape;
      const [kh, kw] = layer.kernel;
      const [sh, sw] = layer.stride;
      const [ph, pw] = layer.padding;
      for (let o = 0; o < layer.outChannels; o++) {
        const b = layer.bias?.[o] ?? 0;
        for (let i = 0; i < oh; i++)
          for (let j = 0; j < ow; j++) {
            let acc = b;
            for (let c = 0; c < cin; c++)
              for (let u = 0; u < kh; u++) {
                const r = i * sh + u - ph;
                if (r < 0 || r >= h) continue;
                for (let v = 0; v < kw; v++) {
                  const s = j * sw + v - pw;
                  if (s < 0 || s >= w) continue;
                  acc += layer.weight[((o * cin + c) * kh + u) * kw + v] * x[(c * h + r) * w + s];
                }
              }
            out[(o * oh + i) * ow + j] = acc;
          }
      }
      return out;
    }
    case 'avgpool2d': {
      const [c, h, w] = shape;
      const [, oh, ow] = outShape;
      const [kh, kw] = layer.kernel;
      const inv = 1 / (kh * kw);
      for (let ch = 0; ch < c; ch++)
        for (let i = 0; i < oh; i++)
          for (let j = 0; j < ow; j++) {
            let acc = 0;
            for (let u = 0; u < kh; u++) {
              const r = i * layer.stride[0] + u - layer.padding[0];
              if (r < 0 || r >= h) continue;
              for (let v = 0; v < kw; v++) {
                const s = j * layer.stride[1] + v - layer.padding[1];
                if (s >= 0 && s < w) acc += x[(ch * h + r) * w + s];
              }
            }
            out[(ch * oh + i) * ow + j] = acc * inv;
          }
      return out;
    }
    case 'globalavgpool': {
      const [c, h, w] = shape;
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let k = 0; k < h * w; k++) acc += x[ch * h * w + k];
        out[ch] = acc / (h * w);
      }
      return out;
    }
    case 'flatten':
      out.set(x);
      return out;
    case 'dense': {
      const n = layer.inFeatures;
      for (let o = 0; o < layer.outFeatures; o++) {
        let acc = layer.bias?.[o] ?? 0;
        for (let k = 0; k < n; k++) acc += layer.weight[o * n + k] * x[k];
        out[o] = acc;
      }
      return out;
    }
    case 'batchnorm': {
      const per = shapeSize(shape) / shape[0];
      for (let ch = 0; ch < shape[0]; ch++) {
        const a = layer.gamma[ch] / Math.sqrt(layer.variance[ch] + layer.epsilon);
        const b = layer.beta[ch] - a * layer.mean[ch];
        for (let k = 0; k < per; k++) out[ch * per + k] = a * x[ch * per + k] + b;
      }
      return out;
    }
    case 'poly': {
      const c = layer.coeffs;
      for (let k = 0; k < x.length; k++) {
        let acc = 0;
        for (let d = c.length - 1; d >= 0; d--) acc = acc * x[k] + c[d];
        out[k] = acc;
      }
      return out;
    }
    case 'add': {
      const other = outputs[layer.from + 1];
      if (other === undefined || other.length !== x.length) {
        throw new NnError(
          'NN_SHAPE_MISMATCH',
          `layer ${index} (add): output of layer ${layer.from} is not available`,
        );
      }
      for (let k = 0; k < x.length; k++) out[k] = x[k] + other[k];
      return out;
    }
  }
}

/**
 * Runs the whole model in float64 on an already preprocessed input. Returns every output (input
 * first) when `all` is set, else the last.
 *
 * @example
 * const logits = referenceForward(model, preprocessImage(model, pixels));
 */
export function referenceForward(model: CnnModel, input: Float64Array): Float64Array {
  return referenceForwardAll(model, input).at(-1)!;
}

/** Every intermediate output of {@link referenceForward}: `[input, layer0, layer1, …]`. */
export function referenceForwardAll(model: CnnModel, input: Float64Array): Float64Array[] {
  if (input.length !== shapeSize(model.inputShape)) {
    throw new NnError(
      'NN_SHAPE_MISMATCH',
      `cannot run model: input has ${input.length} values, model expects [${model.inputShape}]`,
    );
  }
  const shapes = modelShapes(model);
  const outputs: Float64Array[] = [input];
  model.layers.forEach((layer, i) => {
    outputs.push(referenceLayer(layer, outputs[i], shapes[i], i, outputs));
  });
  return outputs;
}

/**
 * Applies the model's preprocessing to raw pixels (CHW order, e.g. 0…255): `(p·scale − mean)/std`
 * per channel. Without preprocessing the pixels are only converted to float64.
 */
export function preprocessImage(model: CnnModel, pixels: ArrayLike<number>): Float64Array {
  const n = shapeSize(model.inputShape);
  if (pixels.length !== n) {
    throw new NnError('NN_SHAPE_MISMATCH', `cannot preprocess: ${pixels.length} pixels, model expects ${n}`);
  }
  const out = Float64Array.from(pixels);
  const p = model.preprocessing;
  if (p === undefined) return out;
  return applyPreprocessing(p, model.inputShape.length === 3 ? model.inputShape[0] : 1, out);
}

/**
 * In place over the `channels` equal planes of a CHW vector: x ← (x·scale − mean[c]) / std[c]. The
 * one normalization of the model's preprocessing, shared by the reference, the latency client and
 * the window-packed client. Returns `x`.
 */
export function applyPreprocessing(p: Preprocessing, channels: number, x: Float64Array): Float64Array {
  const per = x.length / channels;
  for (let c = 0; c < channels; c++)
    for (let k = 0; k < per; k++) x[c * per + k] = (x[c * per + k] * p.scale - p.mean[c]) / p.std[c];
  return x;
}

import type { CnnLayer, CnnModel } from './ir.ts';

/**
 * Folds every BatchNorm that directly follows a conv2d or dense layer into that layer's weights and
 * bias (y = a·(Wx + b) + c with a = γ/√(σ²+ε), c = β − a·μ), so it costs nothing under encryption.
 * A BatchNorm elsewhere stays (the planner treats it as a per-channel affine map). `add.from`
 * indices are renumbered for the removed layers. The result computes the same function.
 *
 * @example
 * const folded = foldBatchNorm(model); // conv → bn → poly  becomes  conv' → poly
 */
export function foldBatchNorm(model: CnnModel): CnnModel {
  const layers: CnnLayer[] = [];
  const newIndex: number[] = []; // old layer index → new index of the layer producing its output
  // A residual may read the output of a conv whose BN we fold: that output no longer exists.
  const readByAdd = new Set(model.layers.flatMap((l) => (l.op === 'add' ? [l.from] : [])));
  model.layers.forEach((layer, i) => {
    const prev = layers.at(-1);
    if (
      layer.op === 'batchnorm' &&
      prev !== undefined &&
      (prev.op === 'conv2d' || prev.op === 'dense') &&
      !readByAdd.has(i - 1)
    ) {
      const outCh = prev.op === 'conv2d' ? prev.outChannels : prev.outFeatures;
      if (layer.gamma.length === outCh) {
        const per = prev.weight.length / outCh;
        const weight = prev.weight.slice();
        const bias = new Array<number>(outCh);
        for (let o = 0; o < outCh; o++) {
          const a = layer.gamma[o] / Math.sqrt(layer.variance[o] + layer.epsilon);
          for (let k = 0; k < per; k++) weight[o * per + k] *= a;
          bias[o] = a * ((prev.bias?.[o] ?? 0) - layer.mean[o]) + layer.beta[o];
        }
        layers[layers.length - 1] = { ...prev, weight, bias };
        newIndex[i] = layers.length - 1;
        return;
      }
    }
    layers.push(
      layer.op === 'add' ? { op: 'add', from: layer.from === -1 ? -1 : newIndex[layer.from] } : layer,
    );
    newIndex[i] = layers.length - 1;
  });
  return { ...model, layers };
}

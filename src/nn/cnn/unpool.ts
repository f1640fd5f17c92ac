import { NnError } from '../errors.ts';
import { type CnnModel, modelShapes, parseCnnModel } from './ir.ts';

/**
 * The same function without the final 2×2 average pool: removes the `avgpool2d` right before
 * `flatten` and spreads each dense weight over its 2×2 block with weight ¼, so the unpooled network
 * computes exactly what the pooled one did and training can go on from there with a dense layer of
 * 4× the inputs (more capacity for the same encrypted depth: the pool was fused into the dense anyway).
 */
export function unpoolLastAvgpool(model: CnnModel): CnnModel {
  const i = model.layers.findIndex((l, j) => l.op === 'avgpool2d' && model.layers[j + 1]?.op === 'flatten');
  const pool = i < 0 ? undefined : model.layers[i];
  const dense = i < 0 ? undefined : model.layers[i + 2];
  const shape = i < 0 ? [] : modelShapes(model)[i]; // the pool's input
  if (pool?.op !== 'avgpool2d' || dense?.op !== 'dense')
    throw new NnError('NN_INVALID_ARGUMENT', 'cannot unpool: no avgpool → flatten → dense in the model');
  if (
    pool.kernel.some((k) => k !== 2) ||
    pool.stride.some((k) => k !== 2) ||
    pool.padding.some((k) => k !== 0) ||
    shape.slice(1).some((d) => d % 2 !== 0)
  )
    throw new NnError('NN_INVALID_ARGUMENT', 'cannot unpool: only a 2×2 stride-2 unpadded pool');
  const [c, h, w] = shape;
  const inF = c * h * w;
  const weight = new Array<number>(dense.outFeatures * inF);
  for (let k = 0; k < dense.outFeatures; k++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++)
          weight[k * inF + (ch * h + y) * w + x] =
            dense.weight[k * dense.inFeatures + (ch * (h / 2) + (y >> 1)) * (w / 2) + (x >> 1)] / 4;
  const layers = [...model.layers.slice(0, i), model.layers[i + 1], { ...dense, inFeatures: inF, weight }];
  return parseCnnModel({ ...model, layers });
}

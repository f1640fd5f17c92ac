import { NnError } from '../errors.ts';
import { type CnnLayer, layerOutputShape, type Shape, shapeSize } from './ir.ts';
import { referenceLayer } from './reference.ts';

/** A dense affine map y = M·x + b, `m` rows of `n` (row-major). */
export interface AffineMap {
  readonly n: number;
  readonly m: number;
  readonly matrix: Float64Array;
  readonly bias: Float64Array;
  readonly inShape: Shape;
  readonly outShape: Shape;
}

/** Layers that are affine maps of their input (and so can be fused into one matrix). */
export function isAffineLayer(layer: CnnLayer): boolean {
  return (
    layer.op === 'conv2d' ||
    layer.op === 'avgpool2d' ||
    layer.op === 'globalavgpool' ||
    layer.op === 'flatten' ||
    layer.op === 'dense' ||
    layer.op === 'batchnorm' ||
    (layer.op === 'poly' && layer.coeffs.length <= 2)
  );
}

/** Largest fused matrix the planner builds (rows × columns), to bound memory. */
export const MAX_AFFINE_ENTRIES = 4096 * 4096;

/**
 * The affine map computed by a run of affine layers, obtained by probing their float64 references
 * with the zero vector and the unit vectors. Probing (rather than re-deriving each layer's matrix)
 * guarantees the fused matrix means exactly what the references compute.
 */
export function affineOf(layers: readonly CnnLayer[], inShape: Shape): AffineMap {
  const shapes: Shape[] = [inShape];
  for (const [i, l] of layers.entries()) {
    if (!isAffineLayer(l))
      throw new NnError('NN_INVALID_ARGUMENT', `cannot fuse layer ${i} (${l.op}): not affine`);
    shapes.push(layerOutputShape(l, shapes[i], i));
  }
  const n = shapeSize(inShape);
  const outShape = shapes.at(-1)!;
  const m = shapeSize(outShape);
  if (n * m > MAX_AFFINE_ENTRIES) {
    throw new NnError(
      'NN_INVALID_ARGUMENT',
      `cannot fuse layers: a ${m}×${n} matrix exceeds the planner's limit`,
    );
  }
  const run = (x: Float64Array) => layers.reduce((v, l, i) => referenceLayer(l, v, shapes[i], i), x);
  const bias = run(new Float64Array(n));
  const matrix = new Float64Array(m * n);
  const e = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    e[j] = 1;
    const col = run(e);
    e[j] = 0;
    for (let i = 0; i < m; i++) matrix[i * n + j] = col[i] - bias[i];
  }
  return { n, m, matrix, bias, inShape, outShape };
}

import { NnError } from '../errors.ts';
import { type HeadSpec, type MlpHeadLayer, validateHeadSpec } from '../head.ts';
import {
  decodeOnnxModel,
  encodeOnnxModel,
  ONNX_FLOAT,
  type OnnxNode,
  type OnnxTensor,
} from './onnx-model.ts';

function matrixFromTensor(t: OnnxTensor, transpose: boolean): number[][] {
  if (t.dims.length !== 2)
    throw new NnError('NN_ONNX_UNSUPPORTED', `loadHeadFromOnnx: weight ${t.name} is not 2-D`);
  const [r, c] = t.dims;
  const rows = transpose ? c : r;
  const cols = transpose ? r : c;
  const out: number[][] = [];
  for (let i = 0; i < rows; i++) {
    const row = new Array<number>(cols);
    for (let j = 0; j < cols; j++) row[j] = Number(transpose ? t.data[j * c + i] : t.data[i * c + j]);
    out.push(row);
  }
  return out;
}

/**
 * Reads a head exported as ONNX into a {@link HeadSpec}. Accepted graphs: a chain of affine layers —
 * `Gemm` (any `transB`, `alpha`, `beta`; `transA = 0`) or `MatMul` followed by `Add` — with `Mul(x, x)`
 * (or `Pow(x, 2)`) between layers for an MLP, optionally ending in `Sigmoid` or `Softmax`.
 * Class names come from the `classes` metadata entry (JSON array) when present.
 *
 * @example
 * ```ts
 * const head = loadHeadFromOnnx(readFileSync('head.onnx'));
 * ```
 */
export function loadHeadFromOnnx(bytes: Uint8Array): HeadSpec {
  const model = decodeOnnxModel(bytes);
  const inits = new Map(model.graph.initializers.map((t) => [t.name, t]));
  const layers: MlpHeadLayer[] = [];
  let activation: 'sigmoid' | 'softmax' | undefined;
  let square = false;
  const nodes = model.graph.nodes.filter((n) => !['Identity', 'Flatten'].includes(n.opType));
  const attr = (n: OnnxNode, name: string, dflt: number) => {
    const a = n.attributes.find((x) => x.name === name);
    return a !== undefined && (a.kind === 'int' || a.kind === 'float') ? a.value : dflt;
  };
  const init = (name: string | undefined, what: string) => {
    const t = name === undefined ? undefined : inits.get(name);
    if (t === undefined)
      throw new NnError('NN_ONNX_UNSUPPORTED', `loadHeadFromOnnx: ${what} ${name} is not an initializer`);
    return t;
  };
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i];
    if (activation !== undefined)
      throw new NnError('NN_ONNX_UNSUPPORTED', `loadHeadFromOnnx: ${n.opType} after the output activation`);
    if (n.opType === 'Gemm' || n.opType === 'MatMul') {
      let weights: number[][];
      let bias: number[];
      if (n.opType === 'Gemm') {
        if (attr(n, 'transA', 0) !== 0)
          throw new NnError('NN_ONNX_UNSUPPORTED', 'loadHeadFromOnnx: Gemm transA = 1');
        const alpha = attr(n, 'alpha', 1);
        const beta = attr(n, 'beta', 1);
        weights = matrixFromTensor(init(n.inputs[1], 'Gemm B'), attr(n, 'transB', 0) === 0).map((r) =>
          r.map((v) => v * alpha),
        );
        const c = n.inputs[2] === undefined || n.inputs[2] === '' ? undefined : init(n.inputs[2], 'Gemm C');
        bias = Array.from({ length: weights.length }, (_, j) =>
          c === undefined ? 0 : beta * Number(c.data[c.data.length === 1 ? 0 : j]),
        );
      } else {
        weights = matrixFromTensor(init(n.inputs[1], 'MatMul B'), true);
        const next = nodes[i + 1];
        if (next?.opType === 'Add' && next.inputs.includes(n.outputs[0])) {
          const c = init(
            next.inputs.find((x) => x !== n.outputs[0]),
            'Add bias',
          );
          bias = Array.from({ length: weights.length }, (_, j) =>
            Number(c.data[c.data.length === 1 ? 0 : j]),
          );
          i++;
        } else bias = new Array<number>(weights.length).fill(0);
      }
      if (layers.length > 0 && !square) {
        throw new NnError(
          'NN_ONNX_UNSUPPORTED',
          'loadHeadFromOnnx: two affine layers without an x² activation between',
        );
      }
      square = false;
      layers.push({ inputDim: weights[0]?.length ?? 0, outputs: weights.length, weights, bias });
    } else if (
      (n.opType === 'Mul' && n.inputs.length === 2 && n.inputs[0] === n.inputs[1]) ||
      (n.opType === 'Pow' && inits.get(n.inputs[1])?.data[0] === 2)
    ) {
      if (layers.length === 0 || square)
        throw new NnError('NN_ONNX_UNSUPPORTED', 'loadHeadFromOnnx: misplaced square');
      square = true;
    } else if (n.opType === 'Sigmoid') activation = 'sigmoid';
    else if (n.opType === 'Softmax') activation = 'softmax';
    else
      throw new NnError(
        'NN_ONNX_UNSUPPORTED',
        `loadHeadFromOnnx: operator ${n.opType} is not a head operator`,
      );
  }
  if (layers.length === 0) throw new NnError('NN_ONNX_UNSUPPORTED', 'loadHeadFromOnnx: no Gemm/MatMul layer');
  if (square) throw new NnError('NN_ONNX_UNSUPPORTED', 'loadHeadFromOnnx: graph ends in x²');
  const k = layers[layers.length - 1].outputs;
  const meta = model.metadata.activation;
  const act =
    activation ?? (meta === 'sigmoid' || meta === 'softmax' ? meta : k === 1 ? 'sigmoid' : 'softmax');
  let classes: string[];
  try {
    classes = model.metadata.classes !== undefined ? JSON.parse(model.metadata.classes) : [];
  } catch {
    classes = [];
  }
  if (classes.length === 0) classes = Array.from({ length: k === 1 ? 2 : k }, (_, i) => `class${i}`);
  const common = { inputDim: layers[0].inputDim, outputs: k, activation: act, classes };
  const spec =
    layers.length === 1
      ? { kind: 'linear', ...common, weights: layers[0].weights, bias: layers[0].bias }
      : { kind: 'mlp', ...common, layers, hiddenActivation: { kind: 'polynomial', coefficients: [0, 0, 1] } };
  return validateHeadSpec(spec);
}

/**
 * Writes a head as ONNX (input `embedding` `[N, d]`, output `logits` `[N, K]`, Gemm layers with
 * `Mul(x, x)` between them; only x² hidden activations can be expressed this way). The output
 * activation is left to the client, as in the encrypted flow; it is recorded in metadata.
 */
export function headToOnnx(spec: HeadSpec): Uint8Array {
  const layers: MlpHeadLayer[] = spec.kind === 'linear' ? [spec] : spec.layers;
  if (spec.kind === 'mlp' && spec.hiddenActivation.coefficients.join(',') !== '0,0,1') {
    throw new NnError('NN_ONNX_UNSUPPORTED', 'headToOnnx: only x² hidden activations are exportable');
  }
  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = [];
  let cur = 'embedding';
  layers.forEach((l, i) => {
    const last = i === layers.length - 1;
    const out = last ? 'logits' : `z_${i}`;
    initializers.push(
      {
        name: `w_${i}`,
        dims: [l.outputs, l.inputDim],
        dataType: ONNX_FLOAT,
        data: Float32Array.from(l.weights.flat()),
      },
      { name: `b_${i}`, dims: [l.outputs], dataType: ONNX_FLOAT, data: Float32Array.from(l.bias) },
    );
    nodes.push({
      opType: 'Gemm',
      name: `gemm_${i}`,
      inputs: [cur, `w_${i}`, `b_${i}`],
      outputs: [out],
      attributes: [{ name: 'transB', kind: 'int', value: 1 }],
    });
    cur = out;
    if (!last) {
      nodes.push({
        opType: 'Mul',
        name: `square_${i}`,
        inputs: [out, out],
        outputs: [`h_${i}`],
        attributes: [],
      });
      cur = `h_${i}`;
    }
  });
  return encodeOnnxModel({
    irVersion: 8,
    opsetVersion: 13,
    producerName: 'blinddx',
    producerVersion: '0.1.0',
    graph: {
      name: 'blinddx_head',
      nodes,
      initializers,
      inputs: [{ name: 'embedding', elemType: ONNX_FLOAT, shape: ['N', spec.inputDim] }],
      outputs: [{ name: 'logits', elemType: ONNX_FLOAT, shape: ['N', spec.outputs] }],
    },
    metadata: { classes: JSON.stringify(spec.classes), activation: spec.activation },
  });
}

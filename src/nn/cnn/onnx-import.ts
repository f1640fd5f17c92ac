import { NnError } from '../errors.ts';
import {
  decodeOnnxModel,
  type OnnxAttribute,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
} from '../onnx/onnx-model.ts';
import { type CnnLayer, type CnnModel, parseCnnModel } from './ir.ts';

/** ONNX ops the importer maps to the CNN IR, with the attributes it accepts. */
export const SUPPORTED_ONNX_OPS: Readonly<Record<string, string>> = Object.freeze({
  Conv: 'kernel_shape, strides, symmetric pads, dilations 1, group 1; W and B initializers',
  AveragePool: 'kernel_shape, strides, symmetric pads (count_include_pad=1 when padded)',
  GlobalAveragePool: '',
  Flatten: 'axis 1',
  Reshape: 'to [batch, -1] (a flatten)',
  Gemm: 'alpha, beta, transB; B and C initializers',
  MatMul: 'with an initializer [in, out], optionally followed by Add of a bias initializer',
  BatchNormalization: 'scale, B, mean, var initializers, epsilon',
  Mul: 'x·x (square)',
  Pow: 'exponent 2 as an initializer (square)',
  Add: 'two activations (residual), or a bias initializer after MatMul',
  Identity: '',
  Dropout: 'inference: identity',
});

/** Why the HE-unfriendly ops are refused, and what to use instead. */
const REPLACEMENTS: Readonly<Record<string, string>> = {
  Relu: 'ReLU is not a polynomial: train with x² (Mul x·x or Pow 2) or a degree-2 polynomial instead',
  LeakyRelu: 'not a polynomial: train with x² instead',
  Sigmoid: 'not a polynomial: train with x² instead (apply sigmoid/softmax on the client after decryption)',
  Tanh: 'not a polynomial: train with x² instead',
  MaxPool: 'max is not a polynomial: use AveragePool instead',
  Softmax: 'apply softmax on the client after decryption; export the logits',
};

function attr(n: OnnxNode, name: string): OnnxAttribute | undefined {
  return n.attributes.find((a) => a.name === name);
}
function ints(n: OnnxNode, name: string, def: number[]): number[] {
  const a = attr(n, name);
  return a?.kind === 'ints' ? a.value : a?.kind === 'int' ? [a.value] : def;
}
function num(n: OnnxNode, name: string, def: number): number {
  const a = attr(n, name);
  return a?.kind === 'int' || a?.kind === 'float' ? a.value : def;
}

/**
 * Imports an ONNX model (bytes, or decoded by `decodeOnnxModel`) as exported by PyTorch or
 * BlindDx's trainer into the CNN IR. Everything is checked up front: one `NN_ONNX_UNSUPPORTED`
 * error lists every unsupported op and attribute together with the supported list, and
 * ReLU/MaxPool come with their HE-friendly replacement.
 *
 * @example
 * const model = importOnnxCnn(readFileSync('net.onnx'), { name: 'net' });
 * const plan = planCnn(model);
 */
export function importOnnxCnn(input: Uint8Array | OnnxModel, opts: { name?: string } = {}): CnnModel {
  const onnx = input instanceof Uint8Array ? decodeOnnxModel(input) : input;
  const g = onnx.graph;
  const inits = new Map<string, OnnxTensor>(g.initializers.map((t) => [t.name, t]));
  const graphInput = g.inputs.find((i) => !inits.has(i.name));
  const problems: string[] = [];
  if (graphInput === undefined) problems.push('graph: no non-initializer input');
  const data = (name: string) => {
    const t = inits.get(name);
    return t === undefined ? undefined : Array.from(t.data as ArrayLike<number>);
  };

  // Pass 1: check every node, collect every problem.
  for (const n of g.nodes) {
    const where = `${n.opType} "${n.name}"`;
    if (REPLACEMENTS[n.opType] !== undefined) {
      problems.push(`${where}: ${REPLACEMENTS[n.opType]}`);
      continue;
    }
    if (!(n.opType in SUPPORTED_ONNX_OPS)) {
      problems.push(`${where}: op ${n.opType} is not supported`);
      continue;
    }
    switch (n.opType) {
      case 'Conv': {
        if (num(n, 'group', 1) !== 1) problems.push(`${where}: group ${num(n, 'group', 1)} (only 1)`);
        if (ints(n, 'dilations', [1, 1]).some((d) => d !== 1)) problems.push(`${where}: dilations ≠ 1`);
        const pads = ints(n, 'pads', [0, 0, 0, 0]);
        if (pads[0] !== pads[2] || pads[1] !== pads[3]) problems.push(`${where}: asymmetric pads [${pads}]`);
        if (!inits.has(n.inputs[1])) problems.push(`${where}: weight must be an initializer`);
        if (
          attr(n, 'auto_pad') !== undefined &&
          (attr(n, 'auto_pad') as { value: unknown }).value !== 'NOTSET'
        ) {
          problems.push(`${where}: auto_pad (give explicit pads)`);
        }
        break;
      }
      case 'AveragePool': {
        const pads = ints(n, 'pads', [0, 0, 0, 0]);
        if (pads[0] !== pads[2] || pads[1] !== pads[3]) problems.push(`${where}: asymmetric pads [${pads}]`);
        if (pads.some((p) => p !== 0) && num(n, 'count_include_pad', 0) !== 1) {
          problems.push(
            `${where}: count_include_pad=0 with padding (the average must be a fixed linear map)`,
          );
        }
        if (num(n, 'ceil_mode', 0) !== 0) problems.push(`${where}: ceil_mode=1`);
        break;
      }
      case 'Flatten':
        if (num(n, 'axis', 1) !== 1) problems.push(`${where}: axis ${num(n, 'axis', 1)} (only 1)`);
        break;
      case 'Gemm':
        if (num(n, 'transA', 0) !== 0) problems.push(`${where}: transA=1`);
        if (!inits.has(n.inputs[1])) problems.push(`${where}: B must be an initializer`);
        break;
      case 'MatMul':
        if (!inits.has(n.inputs[1])) problems.push(`${where}: the right operand must be an initializer`);
        break;
      case 'BatchNormalization':
        if (!n.inputs.slice(1, 5).every((i) => inits.has(i)))
          problems.push(`${where}: statistics must be initializers`);
        break;
      case 'Mul':
        if (n.inputs[0] !== n.inputs[1]) problems.push(`${where}: only x·x (square) is supported`);
        break;
      case 'Pow': {
        const e = data(n.inputs[1]);
        if (e === undefined || e.length !== 1 || e[0] !== 2)
          problems.push(`${where}: only exponent 2 (an initializer)`);
        break;
      }
    }
  }
  if (problems.length > 0) {
    throw new NnError(
      'NN_ONNX_UNSUPPORTED',
      `cannot import ONNX model: ${problems.length} unsupported construct(s):\n  ${problems.join('\n  ')}\nsupported: ${Object.entries(
        SUPPORTED_ONNX_OPS,
      )
        .map(([op, a]) => (a ? `${op} (${a})` : op))
        .join('; ')}`,
    );
  }

  // Pass 2: walk the chain. `producer` maps a tensor name to the IR layer index that made it.
  const shape = graphInput!.shape.slice(1).map((d) => (typeof d === 'number' ? d : Number.NaN));
  if (!(shape.length === 1 || shape.length === 3) || shape.some((d) => !(d >= 1))) {
    throw new NnError(
      'NN_ONNX_UNSUPPORTED',
      `cannot import ONNX model: input shape [${graphInput!.shape}] must be [N, C, H, W] or [N, F] with fixed sizes`,
    );
  }
  const layers: CnnLayer[] = [];
  const producer = new Map<string, number>([[graphInput!.name, -1]]);
  const push = (n: OnnxNode, l: CnnLayer) => {
    layers.push(l);
    producer.set(n.outputs[0], layers.length - 1);
  };
  const alias = (n: OnnxNode) => producer.set(n.outputs[0], producer.get(n.inputs[0])!);
  for (const n of g.nodes) {
    // A residual Add may name the running tensor second.
    if (n.opType === 'Add' && producer.get(n.inputs[1]) === layers.length - 1 && producer.has(n.inputs[0])) {
      n.inputs = [n.inputs[1], n.inputs[0], ...n.inputs.slice(2)];
    }
    const pr = producer.get(n.inputs[0]);
    if (pr === undefined || pr !== layers.length - 1) {
      throw new NnError(
        'NN_ONNX_UNSUPPORTED',
        `cannot import ONNX model: node ${n.opType} "${n.name}" does not continue the chain (only sequential graphs with residual Adds)`,
      );
    }
    switch (n.opType) {
      case 'Conv': {
        const w = inits.get(n.inputs[1])!;
        const [outC, inC, kh, kw] = w.dims;
        const pads = ints(n, 'pads', [0, 0, 0, 0]);
        const b = n.inputs[2] ? data(n.inputs[2]) : undefined;
        push(n, {
          op: 'conv2d',
          inChannels: inC,
          outChannels: outC,
          kernel: [kh, kw],
          stride: ints(n, 'strides', [1, 1]) as [number, number],
          padding: [pads[0], pads[1]],
          weight: Array.from(w.data as ArrayLike<number>),
          ...(b ? { bias: b } : {}),
        });
        break;
      }
      case 'AveragePool': {
        const k = ints(n, 'kernel_shape', [1, 1]);
        const pads = ints(n, 'pads', [0, 0, 0, 0]);
        push(n, {
          op: 'avgpool2d',
          kernel: [k[0], k[1]],
          stride: ints(n, 'strides', k) as [number, number],
          padding: [pads[0], pads[1]],
        });
        break;
      }
      case 'GlobalAveragePool':
        push(n, { op: 'globalavgpool' });
        break;
      case 'Flatten':
      case 'Reshape':
        push(n, { op: 'flatten' });
        break;
      case 'Gemm': {
        const B = inits.get(n.inputs[1])!;
        const transB = num(n, 'transB', 0) === 1;
        const alpha = num(n, 'alpha', 1);
        const beta = num(n, 'beta', 1);
        const [r, c] = B.dims;
        const out = transB ? r : c;
        const inF = transB ? c : r;
        const src = B.data as ArrayLike<number>;
        const weight = new Array<number>(out * inF);
        for (let o = 0; o < out; o++)
          for (let k = 0; k < inF; k++)
            weight[o * inF + k] = alpha * (transB ? src[o * inF + k] : src[k * out + o]);
        const C = n.inputs[2] ? data(n.inputs[2]) : undefined;
        const bias = C
          ? Array.from({ length: out }, (_, o) => beta * (C.length === 1 ? C[0] : C[o]))
          : undefined;
        push(n, { op: 'dense', inFeatures: inF, outFeatures: out, weight, ...(bias ? { bias } : {}) });
        break;
      }
      case 'MatMul': {
        const B = inits.get(n.inputs[1])!;
        const [inF, out] = B.dims;
        const src = B.data as ArrayLike<number>;
        const weight = new Array<number>(out * inF);
        for (let o = 0; o < out; o++) for (let k = 0; k < inF; k++) weight[o * inF + k] = src[k * out + o];
        push(n, { op: 'dense', inFeatures: inF, outFeatures: out, weight });
        break;
      }
      case 'Add': {
        const other = n.inputs[1];
        const bias = data(other);
        const last = layers.at(-1);
        if (
          bias !== undefined &&
          last?.op === 'dense' &&
          last.bias === undefined &&
          bias.length === last.outFeatures
        ) {
          layers[layers.length - 1] = { ...last, bias };
          producer.set(n.outputs[0], layers.length - 1);
        } else if (producer.has(other)) {
          push(n, { op: 'add', from: producer.get(other)! });
        } else {
          throw new NnError(
            'NN_ONNX_UNSUPPORTED',
            `cannot import ONNX model: Add "${n.name}" adds a constant that is not a dense bias`,
          );
        }
        break;
      }
      case 'BatchNormalization': {
        const [gamma, beta, mean, variance] = n.inputs.slice(1, 5).map((i) => data(i)!);
        push(n, { op: 'batchnorm', gamma, beta, mean, variance, epsilon: num(n, 'epsilon', 1e-5) });
        break;
      }
      case 'Mul':
      case 'Pow':
        push(n, { op: 'poly', coeffs: [0, 0, 1] });
        break;
      case 'Identity':
      case 'Dropout':
        alias(n);
        break;
    }
  }
  return parseCnnModel({
    format: 'blinddx-cnn',
    version: 1,
    name: opts.name ?? (g.name || 'onnx-model'),
    inputShape: shape,
    layers,
  });
}

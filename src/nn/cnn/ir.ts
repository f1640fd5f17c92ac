import { NnError } from '../errors.ts';

/**
 * The CNN model IR: a straight-line list of HE-friendly layers over a CHW tensor (or a flat vector).
 * Its JSON form is the object itself (`JSON.stringify(model)`); {@link parseCnnModel} validates it back.
 *
 * Shapes: `[C, H, W]` for images and feature maps, `[N]` for vectors. Weights are row-major:
 * conv `[out][in][kh][kw]` (PyTorch OIHW), dense `[out][in]`.
 */
export type CnnLayer =
  | {
      readonly op: 'conv2d';
      readonly inChannels: number;
      readonly outChannels: number;
      readonly kernel: readonly [number, number];
      readonly stride: readonly [number, number];
      readonly padding: readonly [number, number];
      readonly weight: readonly number[];
      readonly bias?: readonly number[];
    }
  | {
      readonly op: 'avgpool2d';
      readonly kernel: readonly [number, number];
      readonly stride: readonly [number, number];
      /** Zero padding; padded zeros count in the average (PyTorch `count_include_pad=True`). */
      readonly padding: readonly [number, number];
    }
  | { readonly op: 'globalavgpool' }
  | { readonly op: 'flatten' }
  | {
      readonly op: 'dense';
      readonly inFeatures: number;
      readonly outFeatures: number;
      readonly weight: readonly number[];
      readonly bias?: readonly number[];
    }
  | {
      readonly op: 'batchnorm';
      readonly gamma: readonly number[];
      readonly beta: readonly number[];
      readonly mean: readonly number[];
      readonly variance: readonly number[];
      readonly epsilon: number;
    }
  /** Elementwise polynomial `c0 + c1·x + c2·x² + …` (x² is `[0, 0, 1]`). */
  | { readonly op: 'poly'; readonly coeffs: readonly number[] }
  /** Residual: adds the output of layer `from` (−1 = the model input) to the current tensor. */
  | { readonly op: 'add'; readonly from: number };

/** Names of the IR ops, for error messages and the ONNX importer. */
export const CNN_OPS = [
  'conv2d',
  'avgpool2d',
  'globalavgpool',
  'flatten',
  'dense',
  'batchnorm',
  'poly',
  'add',
] as const;

/** Per-channel input normalization the client applies before encoding: `(pixel·scale − mean) / std`. */
export interface Preprocessing {
  readonly scale: number;
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

/** A model: input shape, preprocessing, layers, optional class names. */
export interface CnnModel {
  readonly format: 'blinddx-cnn';
  readonly version: 1;
  readonly name: string;
  readonly inputShape: readonly number[];
  readonly preprocessing?: Preprocessing;
  readonly layers: readonly CnnLayer[];
  readonly classes?: readonly string[];
}

/** A tensor shape: `[C, H, W]` or `[N]`. */
export type Shape = readonly number[];

/** Number of elements of a shape. */
export function shapeSize(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

function fail(message: string): never {
  throw new NnError('NN_SHAPE_MISMATCH', message);
}

function bad(message: string): never {
  throw new NnError('NN_INVALID_ARGUMENT', message);
}

function posInt(v: unknown, what: string): number {
  if (!Number.isInteger(v) || (v as number) < 1)
    bad(`cannot read model: ${what} expected a positive integer, got ${String(v)}`);
  return v as number;
}

function pair(v: unknown, what: string, min = 1): readonly [number, number] {
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => Number.isInteger(x) && x >= min)) {
    bad(`cannot read model: ${what} expected two integers ≥ ${min}, got ${JSON.stringify(v)}`);
  }
  return [v[0], v[1]];
}

function floats(v: unknown, n: number, what: string): readonly number[] {
  if (!Array.isArray(v) || v.length !== n || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    bad(
      `cannot read model: ${what} expected ${n} finite numbers, got ${Array.isArray(v) ? `${v.length} items` : typeof v}`,
    );
  }
  return v;
}

/** Output size of a sliding window along one axis. */
export function windowOut(size: number, kernel: number, stride: number, padding: number): number {
  return Math.floor((size + 2 * padding - kernel) / stride) + 1;
}

/**
 * The output shape of one layer for a given input shape. Throws `NN_SHAPE_MISMATCH` naming the layer
 * when the shapes do not fit.
 */
export function layerOutputShape(
  layer: CnnLayer,
  input: Shape,
  index: number,
  shapes?: readonly Shape[],
): Shape {
  const where = `layer ${index} (${layer.op})`;
  switch (layer.op) {
    case 'conv2d': {
      if (input.length !== 3) fail(`${where}: expected a [C,H,W] input, got [${input}]`);
      if (input[0] !== layer.inChannels)
        fail(`${where}: input has ${input[0]} channels, layer expects ${layer.inChannels}`);
      const h = windowOut(input[1], layer.kernel[0], layer.stride[0], layer.padding[0]);
      const w = windowOut(input[2], layer.kernel[1], layer.stride[1], layer.padding[1]);
      if (h < 1 || w < 1) fail(`${where}: kernel larger than the padded input [${input}]`);
      return [layer.outChannels, h, w];
    }
    case 'avgpool2d': {
      if (input.length !== 3) fail(`${where}: expected a [C,H,W] input, got [${input}]`);
      const h = windowOut(input[1], layer.kernel[0], layer.stride[0], layer.padding[0]);
      const w = windowOut(input[2], layer.kernel[1], layer.stride[1], layer.padding[1]);
      if (h < 1 || w < 1) fail(`${where}: pool window larger than the padded input [${input}]`);
      return [input[0], h, w];
    }
    case 'globalavgpool':
      if (input.length !== 3) fail(`${where}: expected a [C,H,W] input, got [${input}]`);
      return [input[0]];
    case 'flatten':
      return [shapeSize(input)];
    case 'dense':
      if (input.length !== 1) fail(`${where}: expected a vector input (flatten first), got [${input}]`);
      if (input[0] !== layer.inFeatures)
        fail(`${where}: input has ${input[0]} features, layer expects ${layer.inFeatures}`);
      return [layer.outFeatures];
    case 'batchnorm':
      if (layer.gamma.length !== input[0])
        fail(`${where}: ${layer.gamma.length} channels, input has ${input[0]}`);
      return input;
    case 'poly':
      return input;
    case 'add': {
      const other = layer.from === -1 ? shapes?.[0] : shapes?.[layer.from + 1];
      if (other === undefined || layer.from >= index)
        fail(`${where}: "from" ${layer.from} must name an earlier layer or −1`);
      if (other.join() !== input.join()) fail(`${where}: shapes [${input}] and [${other}] differ`);
      return input;
    }
  }
}

/** Shapes of the model input and of every layer output: `shapes[0]` is the input, `shapes[i+1]` layer i's. */
export function modelShapes(model: CnnModel): Shape[] {
  const shapes: Shape[] = [model.inputShape];
  model.layers.forEach((layer, i) => {
    shapes.push(layerOutputShape(layer, shapes[i], i, shapes));
  });
  return shapes;
}

function parseLayer(raw: unknown, i: number): CnnLayer {
  if (raw === null || typeof raw !== 'object') bad(`cannot read model: layers[${i}] expected an object`);
  const l = raw as Record<string, unknown>;
  const at = `layers[${i}]`;
  switch (l.op) {
    case 'conv2d': {
      const inChannels = posInt(l.inChannels, `${at}.inChannels`);
      const outChannels = posInt(l.outChannels, `${at}.outChannels`);
      const kernel = pair(l.kernel, `${at}.kernel`);
      const n = outChannels * inChannels * kernel[0] * kernel[1];
      return {
        op: 'conv2d',
        inChannels,
        outChannels,
        kernel,
        stride: pair(l.stride ?? [1, 1], `${at}.stride`),
        padding: pair(l.padding ?? [0, 0], `${at}.padding`, 0),
        weight: floats(l.weight, n, `${at}.weight`),
        ...(l.bias !== undefined ? { bias: floats(l.bias, outChannels, `${at}.bias`) } : {}),
      };
    }
    case 'avgpool2d': {
      const kernel = pair(l.kernel, `${at}.kernel`);
      return {
        op: 'avgpool2d',
        kernel,
        stride: pair(l.stride ?? kernel, `${at}.stride`),
        padding: pair(l.padding ?? [0, 0], `${at}.padding`, 0),
      };
    }
    case 'globalavgpool':
      return { op: 'globalavgpool' };
    case 'flatten':
      return { op: 'flatten' };
    case 'dense': {
      const inFeatures = posInt(l.inFeatures, `${at}.inFeatures`);
      const outFeatures = posInt(l.outFeatures, `${at}.outFeatures`);
      return {
        op: 'dense',
        inFeatures,
        outFeatures,
        weight: floats(l.weight, inFeatures * outFeatures, `${at}.weight`),
        ...(l.bias !== undefined ? { bias: floats(l.bias, outFeatures, `${at}.bias`) } : {}),
      };
    }
    case 'batchnorm': {
      const c = Array.isArray(l.gamma) ? l.gamma.length : 0;
      if (c === 0) bad(`cannot read model: ${at}.gamma expected a non-empty array`);
      const epsilon = l.epsilon ?? 1e-5;
      if (typeof epsilon !== 'number' || !(epsilon >= 0))
        bad(`cannot read model: ${at}.epsilon expected a number ≥ 0`);
      return {
        op: 'batchnorm',
        gamma: floats(l.gamma, c, `${at}.gamma`),
        beta: floats(l.beta, c, `${at}.beta`),
        mean: floats(l.mean, c, `${at}.mean`),
        variance: floats(l.variance, c, `${at}.variance`),
        epsilon,
      };
    }
    case 'poly': {
      const n = Array.isArray(l.coeffs) ? l.coeffs.length : 0;
      if (n === 0) bad(`cannot read model: ${at}.coeffs expected a non-empty array`);
      return { op: 'poly', coeffs: floats(l.coeffs, n, `${at}.coeffs`) };
    }
    case 'add':
      if (!Number.isInteger(l.from) || (l.from as number) < -1)
        bad(`cannot read model: ${at}.from expected an integer ≥ −1`);
      return { op: 'add', from: l.from as number };
    default:
      bad(`cannot read model: ${at}.op ${JSON.stringify(l.op)} is not one of ${CNN_OPS.join(', ')}`);
  }
}

/**
 * Validates the JSON form of a model (a parsed object or a JSON string) into a {@link CnnModel},
 * checking every layer's fields and that the shapes chain. Throws `NN_INVALID_ARGUMENT` or
 * `NN_SHAPE_MISMATCH` naming the field.
 *
 * @example
 * const model = parseCnnModel(JSON.parse(readFileSync('model.json', 'utf8')));
 */
export function parseCnnModel(json: unknown): CnnModel {
  const raw = typeof json === 'string' ? (JSON.parse(json) as unknown) : json;
  if (raw === null || typeof raw !== 'object') bad('cannot read model: expected an object');
  const m = raw as Record<string, unknown>;
  if (m.format !== 'blinddx-cnn')
    bad(`cannot read model: "format" expected 'blinddx-cnn', got ${JSON.stringify(m.format)}`);
  if (m.version !== 1)
    bad(`cannot read model: "version" ${JSON.stringify(m.version)} is not supported (expected 1)`);
  if (!Array.isArray(m.inputShape) || (m.inputShape.length !== 1 && m.inputShape.length !== 3)) {
    bad('cannot read model: "inputShape" expected [C, H, W] or [N]');
  }
  const inputShape = (m.inputShape as unknown[]).map((v, i) => posInt(v, `inputShape[${i}]`));
  if (!Array.isArray(m.layers) || m.layers.length === 0)
    bad('cannot read model: "layers" expected a non-empty array');
  let preprocessing: Preprocessing | undefined;
  if (m.preprocessing !== undefined) {
    const p = m.preprocessing as Record<string, unknown>;
    const c = inputShape.length === 3 ? inputShape[0] : 1;
    if (typeof p.scale !== 'number' || !Number.isFinite(p.scale))
      bad('cannot read model: preprocessing.scale expected a number');
    preprocessing = {
      scale: p.scale,
      mean: floats(p.mean, c, 'preprocessing.mean'),
      std: floats(p.std, c, 'preprocessing.std'),
    };
  }
  const model: CnnModel = {
    format: 'blinddx-cnn',
    version: 1,
    name: typeof m.name === 'string' ? m.name : 'model',
    inputShape,
    ...(preprocessing ? { preprocessing } : {}),
    layers: m.layers.map(parseLayer),
    ...(Array.isArray(m.classes) ? { classes: m.classes.map(String) } : {}),
  };
  modelShapes(model);
  return model;
}

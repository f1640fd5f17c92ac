import { NnError } from '../errors.ts';
import {
  asFloat32,
  asInt64,
  decodeMessage,
  type ProtoField,
  ProtoWriter,
  repeatedFloats,
  repeatedInts,
  stringField,
} from './protobuf.ts';

// A plain-object view of the subset of ONNX (onnx.proto3) this project writes and reads. Field numbers
// are those of the public ONNX schema (ModelProto, GraphProto, NodeProto, TensorProto, …).

/** ONNX TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;
export const ONNX_INT64 = 7;
export const ONNX_DOUBLE = 11;

/** An initializer: float tensors as Float32Array, int64 tensors as number[]. */
export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: number;
  data: Float32Array | number[];
}

/** A node attribute; `kind` picks the AttributeProto field. */
export type OnnxAttribute =
  | { name: string; kind: 'int'; value: number }
  | { name: string; kind: 'float'; value: number }
  | { name: string; kind: 'ints'; value: number[] }
  | { name: string; kind: 'floats'; value: number[] }
  | { name: string; kind: 'string'; value: string };

export interface OnnxNode {
  opType: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attributes: OnnxAttribute[];
  domain?: string;
}

/** A graph input/output: element type and shape (number = fixed, string = symbolic such as batch `N`). */
export interface OnnxValueInfo {
  name: string;
  elemType: number;
  shape: (number | string)[];
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

export interface OnnxModel {
  irVersion: number;
  opsetVersion: number;
  producerName: string;
  producerVersion: string;
  docString?: string;
  graph: OnnxGraph;
  metadata: Record<string, string>;
}

const ATTR_TYPE = { float: 1, int: 2, string: 3, floats: 6, ints: 7 } as const;

function writeTensor(w: ProtoWriter, t: OnnxTensor): void {
  w.packedInts(1, t.dims);
  w.int(2, t.dataType);
  w.string(8, t.name);
  if (t.dataType === ONNX_FLOAT) {
    const raw = new Uint8Array(t.data.length * 4);
    const dv = new DataView(raw.buffer);
    for (let i = 0; i < t.data.length; i++) dv.setFloat32(i * 4, t.data[i], true);
    w.bytes(9, raw);
  } else if (t.dataType === ONNX_INT64) {
    w.packedInts(7, t.data as number[]);
  } else {
    throw new NnError('NN_ONNX_UNSUPPORTED', `encodeOnnxModel: tensor ${t.name} data type ${t.dataType}`);
  }
}

function writeValueInfo(w: ProtoWriter, v: OnnxValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tt) => {
      tt.int(1, v.elemType);
      tt.message(2, (shape) => {
        for (const d of v.shape) {
          shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
        }
      });
    }),
  );
}

/**
 * Serialises a model to ONNX protobuf bytes (loadable by onnxruntime and netron).
 *
 * @example
 * ```ts
 * const bytes = encodeOnnxModel({ irVersion: 8, opsetVersion: 13, producerName: 'blinddx', producerVersion: '0.1.0', graph, metadata: {} });
 * ```
 */
export function encodeOnnxModel(m: OnnxModel): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, m.irVersion);
  w.string(2, m.producerName);
  w.string(3, m.producerVersion);
  if (m.docString !== undefined) w.string(6, m.docString);
  w.message(7, (g) => {
    for (const n of m.graph.nodes) {
      g.message(1, (nw) => {
        for (const i of n.inputs) nw.string(1, i);
        for (const o of n.outputs) nw.string(2, o);
        nw.string(3, n.name);
        nw.string(4, n.opType);
        for (const a of n.attributes) {
          nw.message(5, (aw) => {
            aw.string(1, a.name);
            if (a.kind === 'float') aw.float(2, a.value);
            else if (a.kind === 'int') aw.int(3, a.value);
            else if (a.kind === 'string') aw.string(4, a.value);
            else if (a.kind === 'floats') aw.packedFloats(7, a.value);
            else aw.packedInts(8, a.value);
            aw.int(20, ATTR_TYPE[a.kind]);
          });
        }
        if (n.domain !== undefined) nw.string(7, n.domain);
      });
    }
    g.string(2, m.graph.name);
    for (const t of m.graph.initializers) g.message(5, (tw) => writeTensor(tw, t));
    for (const v of m.graph.inputs) g.message(11, (vw) => writeValueInfo(vw, v));
    for (const v of m.graph.outputs) g.message(12, (vw) => writeValueInfo(vw, v));
  });
  w.message(8, (o) => {
    o.string(1, '');
    o.int(2, m.opsetVersion);
  });
  for (const [key, value] of Object.entries(m.metadata)) {
    w.message(14, (e) => {
      e.string(1, key);
      e.string(2, value);
    });
  }
  return w.finish();
}

function sub(fields: ProtoField[], field: number, what: string): ProtoField[][] {
  return fields
    .filter((f) => f.field === field && f.bytes !== undefined)
    .map((f) => decodeMessage(f.bytes!, what));
}

function intField(fields: ProtoField[], field: number): number | undefined {
  const f = fields.find((x) => x.field === field && x.varint !== undefined);
  return f === undefined ? undefined : asInt64(f.varint!);
}

function readTensor(t: ProtoField[]): OnnxTensor {
  const name = stringField(t, 8) ?? '';
  const dims = repeatedInts(t, 1);
  const dataType = intField(t, 2) ?? 0;
  const count = dims.reduce((a, b) => a * b, 1);
  const raw = t.find((f) => f.field === 9)?.bytes;
  if (t.some((f) => f.field === 13 || (f.field === 14 && f.varint === 1n))) {
    throw new NnError('NN_ONNX_UNSUPPORTED', `decodeOnnxModel: tensor ${name} uses external data`);
  }
  let data: Float32Array | number[];
  if (dataType === ONNX_FLOAT) {
    if (raw !== undefined) {
      if (raw.length !== count * 4)
        throw new NnError('NN_ONNX_DECODE', `decodeOnnxModel: tensor ${name} size`);
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = dv.getFloat32(i * 4, true);
    } else data = Float32Array.from(repeatedFloats(t, 4));
  } else if (dataType === ONNX_DOUBLE) {
    const vals: number[] = [];
    if (raw !== undefined) {
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      for (let i = 0; i + 8 <= raw.length; i += 8) vals.push(dv.getFloat64(i, true));
    } else {
      for (const f of t.filter((x) => x.field === 10 && x.bytes !== undefined)) {
        const dv = new DataView(f.bytes!.buffer, f.bytes!.byteOffset, f.bytes!.byteLength);
        for (let i = 0; i + 8 <= f.bytes!.length; i += 8) vals.push(dv.getFloat64(i, true));
      }
    }
    data = Float32Array.from(vals);
  } else if (dataType === ONNX_INT64) {
    if (raw !== undefined) {
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      data = [];
      for (let i = 0; i + 8 <= raw.length; i += 8) data.push(Number(dv.getBigInt64(i, true)));
    } else data = repeatedInts(t, 7);
  } else {
    throw new NnError('NN_ONNX_UNSUPPORTED', `decodeOnnxModel: tensor ${name} data type ${dataType}`);
  }
  if (data.length !== count) {
    throw new NnError(
      'NN_ONNX_DECODE',
      `decodeOnnxModel: tensor ${name} has ${data.length} values, dims ${dims}`,
    );
  }
  return { name, dims, dataType: dataType === ONNX_DOUBLE ? ONNX_FLOAT : dataType, data };
}

function readValueInfo(v: ProtoField[]): OnnxValueInfo {
  const name = stringField(v, 1) ?? '';
  const tensor = sub(sub(v, 2, 'TypeProto')[0] ?? [], 1, 'TypeProto.Tensor')[0] ?? [];
  const elemType = intField(tensor, 1) ?? 0;
  const shapeMsg = sub(tensor, 2, 'TensorShapeProto')[0] ?? [];
  const shape = sub(shapeMsg, 1, 'Dimension').map((d) => intField(d, 1) ?? stringField(d, 2) ?? '?');
  return { name, elemType, shape };
}

function readAttribute(a: ProtoField[]): OnnxAttribute {
  const name = stringField(a, 1) ?? '';
  const type = intField(a, 20);
  const f = a.find((x) => x.field === 2)?.bytes;
  if (type === 1 || (type === undefined && f !== undefined))
    return { name, kind: 'float', value: asFloat32(f!) };
  if (type === 2 || (type === undefined && a.some((x) => x.field === 3))) {
    return { name, kind: 'int', value: intField(a, 3) ?? 0 };
  }
  if (type === 3) return { name, kind: 'string', value: stringField(a, 4) ?? '' };
  if (type === 6) return { name, kind: 'floats', value: repeatedFloats(a, 7) };
  if (type === 7) return { name, kind: 'ints', value: repeatedInts(a, 8) };
  throw new NnError('NN_ONNX_UNSUPPORTED', `decodeOnnxModel: attribute ${name} of type ${type}`);
}

/**
 * Parses ONNX protobuf bytes into an {@link OnnxModel}. Unknown fields are skipped; tensor types
 * other than float/double/int64 and external data are `NN_ONNX_UNSUPPORTED`.
 */
export function decodeOnnxModel(bytes: Uint8Array): OnnxModel {
  const m = decodeMessage(bytes, 'ModelProto');
  const graphs = sub(m, 7, 'GraphProto');
  if (graphs.length !== 1) throw new NnError('NN_ONNX_DECODE', 'decodeOnnxModel: model has no graph');
  const g = graphs[0];
  const opsets = sub(m, 8, 'OperatorSetIdProto');
  const defaultOpset = opsets.find(
    (o) => (stringField(o, 1) ?? '') === '' || stringField(o, 1) === 'ai.onnx',
  );
  const metadata: Record<string, string> = {};
  for (const e of sub(m, 14, 'StringStringEntryProto'))
    metadata[stringField(e, 1) ?? ''] = stringField(e, 2) ?? '';
  return {
    irVersion: intField(m, 1) ?? 0,
    opsetVersion: defaultOpset === undefined ? 0 : (intField(defaultOpset, 2) ?? 0),
    producerName: stringField(m, 2) ?? '',
    producerVersion: stringField(m, 3) ?? '',
    docString: stringField(m, 6),
    metadata,
    graph: {
      name: stringField(g, 2) ?? '',
      nodes: sub(g, 1, 'NodeProto').map((n) => ({
        opType: stringField(n, 4) ?? '',
        name: stringField(n, 3) ?? '',
        inputs: n.filter((f) => f.field === 1).map((f) => new TextDecoder().decode(f.bytes)),
        outputs: n.filter((f) => f.field === 2).map((f) => new TextDecoder().decode(f.bytes)),
        attributes: sub(n, 5, 'AttributeProto').map(readAttribute),
        domain: stringField(n, 7),
      })),
      initializers: sub(g, 5, 'TensorProto').map(readTensor),
      inputs: sub(g, 11, 'ValueInfoProto').map(readValueInfo),
      outputs: sub(g, 12, 'ValueInfoProto').map(readValueInfo),
    },
  };
}

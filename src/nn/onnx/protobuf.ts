import { NnError } from '../errors.ts';

// Minimal protocol-buffers wire format (varint, 64-bit, length-delimited, 32-bit), enough for ONNX.
// Written from the public encoding spec; no generated code, so the nn layer stays dependency-free.

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/**
 * Appends protobuf fields to a growable buffer.
 *
 * @example
 * ```ts
 * const w = new ProtoWriter(); w.int(1, 8); w.string(2, 'blinddx'); const bytes = w.finish();
 * ```
 */
export class ProtoWriter {
  private _buf = new Uint8Array(256);
  private _len = 0;

  private _reserve(n: number): void {
    if (this._len + n <= this._buf.length) return;
    let cap = this._buf.length * 2;
    while (cap < this._len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this._buf.subarray(0, this._len));
    this._buf = next;
  }
  private _varint(v: bigint | number): void {
    // Negative int64 values are encoded as their 64-bit two's complement (10 bytes).
    let x = BigInt.asUintN(64, BigInt(v));
    this._reserve(10);
    while (x >= 0x80n) {
      this._buf[this._len++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this._buf[this._len++] = Number(x);
  }
  private _tag(field: number, wire: number): void {
    this._varint((field << 3) | wire);
  }
  /** int32 / int64 / enum / bool field. */
  int(field: number, v: number | bigint): this {
    this._tag(field, WIRE_VARINT);
    this._varint(v);
    return this;
  }
  /** 32-bit float field. */
  float(field: number, v: number): this {
    this._tag(field, WIRE_I32);
    this._reserve(4);
    new DataView(this._buf.buffer).setFloat32(this._len, v, true);
    this._len += 4;
    return this;
  }
  /** bytes / embedded message field. */
  bytes(field: number, v: Uint8Array): this {
    this._tag(field, WIRE_LEN);
    this._varint(v.length);
    this._reserve(v.length);
    this._buf.set(v, this._len);
    this._len += v.length;
    return this;
  }
  string(field: number, v: string): this {
    return this.bytes(field, new TextEncoder().encode(v));
  }
  /** Embedded message built by `build`. */
  message(field: number, build: (w: ProtoWriter) => void): this {
    const w = new ProtoWriter();
    build(w);
    return this.bytes(field, w.finish());
  }
  /** Packed repeated varints (proto3 default for repeated scalars). */
  packedInts(field: number, vs: readonly (number | bigint)[]): this {
    const w = new ProtoWriter();
    for (const v of vs) w._varint(v);
    return this.bytes(field, w.finish());
  }
  /** Packed repeated floats. */
  packedFloats(field: number, vs: ArrayLike<number>): this {
    const b = new Uint8Array(vs.length * 4);
    const dv = new DataView(b.buffer);
    for (let i = 0; i < vs.length; i++) dv.setFloat32(i * 4, vs[i], true);
    return this.bytes(field, b);
  }
  finish(): Uint8Array {
    return this._buf.slice(0, this._len);
  }
}

/** One decoded field: varints as bigint, fixed32/64 as raw bytes, length-delimited as a view. */
export interface ProtoField {
  readonly field: number;
  readonly wire: number;
  readonly varint?: bigint;
  readonly bytes?: Uint8Array;
}

/**
 * Decodes one message level into its fields (in order). Nested messages are decoded on demand by
 * calling this again on `bytes`. Any truncation or unknown wire type is `NN_ONNX_DECODE`.
 */
export function decodeMessage(buf: Uint8Array, what = 'message'): ProtoField[] {
  const out: ProtoField[] = [];
  let p = 0;
  const fail = (why: string): never => {
    throw new NnError('NN_ONNX_DECODE', `decodeMessage(${what}): ${why} at byte ${p}`);
  };
  const varint = (): bigint => {
    let x = 0n;
    let shift = 0n;
    for (;;) {
      if (p >= buf.length) fail('truncated varint');
      const b = buf[p++];
      x |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return x;
      shift += 7n;
      if (shift > 63n) fail('varint too long');
    }
  };
  while (p < buf.length) {
    const key = varint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field === 0) fail('field number 0');
    if (wire === WIRE_VARINT) out.push({ field, wire, varint: varint() });
    else if (wire === WIRE_I64 || wire === WIRE_I32) {
      const n = wire === WIRE_I64 ? 8 : 4;
      if (p + n > buf.length) fail('truncated fixed field');
      out.push({ field, wire, bytes: buf.subarray(p, p + n) });
      p += n;
    } else if (wire === WIRE_LEN) {
      const n = Number(varint());
      if (n < 0 || p + n > buf.length) fail('length beyond end');
      out.push({ field, wire, bytes: buf.subarray(p, p + n) });
      p += n;
    } else fail(`unsupported wire type ${wire}`);
  }
  return out;
}

/** Signed interpretation of a decoded int64 varint. */
export function asInt64(v: bigint): number {
  return Number(BigInt.asIntN(64, v));
}

/** Reads a float32 from a fixed32 field. */
export function asFloat32(b: Uint8Array): number {
  return new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true);
}

/** Values of a repeated int64 field that may be packed or not. */
export function repeatedInts(fields: ProtoField[], field: number): number[] {
  const out: number[] = [];
  for (const f of fields) {
    if (f.field !== field) continue;
    if (f.varint !== undefined) out.push(asInt64(f.varint));
    else if (f.bytes !== undefined && f.wire === WIRE_LEN) {
      for (const g of decodeMessage(prefixPacked(f.bytes), 'packed ints')) out.push(asInt64(g.varint ?? 0n));
    }
  }
  return out;
}

// Packed varints have no tags; re-tag each as field 1 so decodeMessage can walk them.
function prefixPacked(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  let start = true;
  for (const b of bytes) {
    if (start) out.push(0x08);
    out.push(b);
    start = (b & 0x80) === 0;
  }
  return Uint8Array.from(out);
}

/** Values of a repeated float field that may be packed or not. */
export function repeatedFloats(fields: ProtoField[], field: number): number[] {
  const out: number[] = [];
  for (const f of fields) {
    if (f.field !== field || f.bytes === undefined) continue;
    if (f.wire === WIRE_I32) out.push(asFloat32(f.bytes));
    else {
      const dv = new DataView(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength);
      for (let i = 0; i + 4 <= f.bytes.length; i += 4) out.push(dv.getFloat32(i, true));
    }
  }
  return out;
}

/** First string value of a field, or undefined. */
export function stringField(fields: ProtoField[], field: number): string | undefined {
  const f = fields.find((x) => x.field === field && x.bytes !== undefined);
  return f === undefined ? undefined : new TextDecoder().decode(f.bytes);
}

// A minimal ONNX model encoder: just enough protobuf (onnx.proto, IR 8, opset 17) to write small
// float32 graphs of standard ops with fixed shapes, for the onnxruntime kernels in ./ort.ts.
// Written by hand rather than pulling a protobuf runtime: the subset is five message types.

/** An attribute value: integer(s) (INT / INTS) or a float (FLOAT). Strings are not needed. */
export type OnnxAttr = number | number[] | { f: number };
export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, OnnxAttr>;
  /** "" (the default ONNX domain) or e.g. "com.microsoft" */
  domain?: string;
}
export interface OnnxGraph {
  nodes: OnnxNode[];
  /** float32 graph inputs and outputs with their fixed shapes */
  inputs: { name: string; shape: number[] }[];
  outputs: { name: string; shape: number[] }[];
  /** int64 constants (shapes for Reshape, starts/ends for Slice) */
  int64Constants?: { name: string; values: number[] }[];
  /** float32 constants (weights baked into the model, so that ORT can pre-pack them) */
  floatConstants?: { name: string; shape: number[]; data: Float32Array }[];
}

class Writer {
  private chunks: Uint8Array[] = [];
  private parts: number[] = [];
  varint(v: number | bigint): this {
    let b = BigInt.asUintN(64, BigInt(v));
    do {
      let byte = Number(b & 0x7fn);
      b >>= 7n;
      if (b) byte |= 0x80;
      this.parts.push(byte);
    } while (b);
    return this;
  }
  tag(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }
  int(field: number, v: number): this {
    return this.tag(field, 0).varint(v);
  }
  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2).varint(b.length);
    if (b.length < 256) for (const x of b) this.parts.push(x);
    else {
      this.flush();
      this.chunks.push(b); // large payloads (baked weights) are kept as they are
    }
    return this;
  }
  private flush(): void {
    if (this.parts.length) this.chunks.push(Uint8Array.from(this.parts));
    this.parts = [];
  }
  str(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  msg(field: number, w: Writer): this {
    return this.bytes(field, w.done());
  }
  float(field: number, v: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(new Float32Array([v]).buffer);
    for (const x of b) this.parts.push(x);
    return this;
  }
  done(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

const FLOAT = 1;
const INT64 = 7;

function valueInfo(name: string, shape: number[]): Writer {
  const dims = new Writer();
  for (const d of shape) dims.msg(1, new Writer().int(1, d)); // TensorShapeProto.dim.dim_value
  const tensorType = new Writer().int(1, FLOAT).msg(2, dims); // TypeProto.Tensor
  return new Writer().str(1, name).msg(2, new Writer().msg(1, tensorType)); // ValueInfoProto
}

function attribute(name: string, v: OnnxAttr): Writer {
  const w = new Writer().str(1, name);
  if (typeof v === "number") return w.int(3, v).int(20, 2); // i, type INT
  if (Array.isArray(v)) {
    for (const x of v) w.int(8, x); // ints (unpacked: valid for proto2 and proto3 readers)
    return w.int(20, 7); // type INTS
  }
  return w.float(2, v.f).int(20, 1); // f, type FLOAT
}

/** Serialises a graph as an ONNX ModelProto (IR version 8, default opset 17, com.microsoft 1). */
export function encodeOnnxModel(g: OnnxGraph): Uint8Array {
  const graph = new Writer();
  for (const n of g.nodes) {
    const node = new Writer();
    for (const i of n.inputs) node.str(1, i);
    for (const o of n.outputs) node.str(2, o);
    node.str(4, n.op);
    for (const [k, v] of Object.entries(n.attrs ?? {})) node.msg(5, attribute(k, v));
    if (n.domain) node.str(7, n.domain);
    graph.msg(1, node);
  }
  graph.str(2, "adaptseg");
  for (const c of g.int64Constants ?? []) {
    const t = new Writer().int(1, c.values.length).int(2, INT64); // dims, data_type
    for (const v of c.values) t.int(7, v); // int64_data
    graph.msg(5, t.str(8, c.name)); // initializer
  }
  for (const c of g.floatConstants ?? []) {
    const t = new Writer();
    for (const d of c.shape) t.int(1, d); // dims
    t.int(2, FLOAT).str(8, c.name);
    graph.msg(5, t.bytes(9, new Uint8Array(c.data.buffer, c.data.byteOffset, c.data.byteLength))); // raw_data (little-endian)
  }
  for (const i of g.inputs) graph.msg(11, valueInfo(i.name, i.shape));
  for (const o of g.outputs) graph.msg(12, valueInfo(o.name, o.shape));
  return new Writer()
    .int(1, 8) // ir_version
    .str(2, "adaptseg")
    .msg(7, graph)
    .msg(8, new Writer().str(1, "").int(2, 17)) // opset_import
    .msg(8, new Writer().str(1, "com.microsoft").int(2, 1))
    .done();
}

// Small ONNX models (IR 8, opset 17) for the onnxruntime kernels in ./ort.ts: float32 graphs of
// standard ops with fixed shapes. The protobuf encoding is onnx-proto's (the ONNX schema compiled by
// protobufjs); this file only maps our graph description onto its messages.
import onnxProto from "onnx-proto";
import type { onnx } from "onnx-proto";

const { ModelProto, AttributeProto, TensorProto } = onnxProto.onnx;

/** An attribute value: integer(s) (INT / INTS), a float (FLOAT) or a string (STRING). */
export type OnnxAttr = number | number[] | { f: number } | { s: string };
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
  /** graph inputs and outputs (float32 unless `type`) with their shapes; a string dim is symbolic (any size) */
  inputs: { name: string; shape: (number | string)[]; type?: "float32" | "uint8" | "int64" }[];
  outputs: { name: string; shape: (number | string)[]; type?: "float32" | "uint8" | "int64" }[];
  /** int64 constants (shapes for Reshape, starts/ends for Slice) */
  int64Constants?: { name: string; values: number[] }[];
  /** float32 constants (weights baked into the model, so that ORT can pre-pack them) */
  floatConstants?: { name: string; shape: number[]; data: Float32Array }[];
  /** the model's metadata_props (e.g. what an exported model needs to be used: classes, preprocessing) */
  metadata?: Record<string, string>;
  docString?: string;
}

const ELEM_TYPES = { float32: TensorProto.DataType.FLOAT, uint8: TensorProto.DataType.UINT8, int64: TensorProto.DataType.INT64 };

function valueInfo(v: OnnxGraph["inputs"][number]): onnx.IValueInfoProto {
  const dim = v.shape.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d }));
  return { name: v.name, type: { tensorType: { elemType: ELEM_TYPES[v.type ?? "float32"], shape: { dim } } } };
}

function attribute(name: string, v: OnnxAttr): onnx.IAttributeProto {
  const { AttributeType } = AttributeProto;
  if (typeof v === "number") return { name, type: AttributeType.INT, i: v };
  if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v };
  if ("s" in v) return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v.s) };
  return { name, type: AttributeType.FLOAT, f: v.f };
}

/** Serialises a graph as an ONNX ModelProto (IR version 8, default opset 17, com.microsoft 1). */
export function encodeOnnxModel(g: OnnxGraph): Uint8Array {
  const graph: onnx.IGraphProto = {
    name: "adaptseg",
    node: g.nodes.map((n) => ({
      input: n.inputs,
      output: n.outputs,
      opType: n.op,
      attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)),
      ...(n.domain ? { domain: n.domain } : {}),
    })),
    initializer: [
      ...(g.int64Constants ?? []).map((c) => ({ name: c.name, dataType: TensorProto.DataType.INT64, dims: [c.values.length], int64Data: c.values })),
      // raw_data is little-endian, as Float32Array is on every platform onnxruntime-node ships for
      ...(g.floatConstants ?? []).map((c) => ({ name: c.name, dataType: TensorProto.DataType.FLOAT, dims: c.shape, rawData: new Uint8Array(c.data.buffer, c.data.byteOffset, c.data.byteLength) })),
    ],
    input: g.inputs.map(valueInfo),
    output: g.outputs.map(valueInfo),
  };
  return ModelProto.encode({
    irVersion: 8,
    producerName: "adaptseg",
    graph,
    ...(g.docString ? { docString: g.docString } : {}),
    metadataProps: Object.entries(g.metadata ?? {}).map(([key, value]) => ({ key, value })),
    opsetImport: [
      { domain: "", version: 17 },
      { domain: "com.microsoft", version: 1 },
    ],
  }).finish();
}

/** An ONNX model's metadata_props (decodes the whole ModelProto: weights included). */
export function readOnnxMetadata(model: Uint8Array): Record<string, string> {
  const m = ModelProto.decode(model);
  return Object.fromEntries((m.metadataProps ?? []).map((p) => [p.key ?? "", p.value ?? ""]));
}

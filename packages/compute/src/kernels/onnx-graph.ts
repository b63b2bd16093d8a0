// Small ONNX models (IR 8, opset 17) for the onnxruntime kernels in ./ort.ts: float32 graphs of
// standard ops with fixed shapes. The protobuf encoding is onnx-proto's (the ONNX schema compiled by
// protobufjs); this file only maps our graph description onto its messages.
import onnxProto from "onnx-proto";
import type { onnx } from "onnx-proto";

const { ModelProto, AttributeProto, TensorProto } = onnxProto.onnx;

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

function valueInfo(name: string, shape: number[]): onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType: TensorProto.DataType.FLOAT, shape: { dim: shape.map((dimValue) => ({ dimValue })) } } } };
}

function attribute(name: string, v: OnnxAttr): onnx.IAttributeProto {
  const { AttributeType } = AttributeProto;
  if (typeof v === "number") return { name, type: AttributeType.INT, i: v };
  if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v };
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
    input: g.inputs.map((i) => valueInfo(i.name, i.shape)),
    output: g.outputs.map((o) => valueInfo(o.name, o.shape)),
  };
  return ModelProto.encode({
    irVersion: 8,
    producerName: "adaptseg",
    graph,
    opsetImport: [
      { domain: "", version: 17 },
      { domain: "com.microsoft", version: 1 },
    ],
  }).finish();
}

// onnxruntime-node's public API, for whole models (exported segmentation networks): this package's
// optional dependency, loaded on first use. The conv kernels (./kernels/ort.ts) call its native
// binding instead; both load the same library.
import type * as Ort from "onnxruntime-node";
import type { OnnxNetGraph } from "@adaptseg/core";

export type OnnxRuntime = typeof Ort;

let loaded: Promise<OnnxRuntime | string> | undefined;

/** onnxruntime-node, or why it cannot be used (absent, broken, or ADAPTSEG_ORT=0/off). */
export function loadOnnxRuntime(): Promise<OnnxRuntime | string> {
  const flag = process.env.ADAPTSEG_ORT;
  if (flag === "0" || flag === "off") return Promise.resolve(`disabled by ADAPTSEG_ORT=${flag}`);
  loaded ??= import("onnxruntime-node").then(
    (m) => ((m as unknown as { default?: OnnxRuntime }).default ?? m) as OnnxRuntime,
    (e: unknown) => `onnxruntime-node did not load: ${(e instanceof Error ? e.message : String(e)).split("\n")[0]}`,
  );
  return loaded;
}

/**
 * Appends a Conv to a network's ONNX nodes (Backbone.toOnnx): `weight` in TF.js's HWIO layout
 * becomes an OIHW constant, each output channel multiplied by `scale` where given (a folded BN).
 */
export function appendOnnxConv(
  g: OnnxNetGraph,
  o: { name: string; input: string; output: string; weight: Float32Array; shape: number[]; bias: Float32Array; pad: number; stride?: number; dilation?: number; scale?: Float32Array },
): string {
  const [kh, kw, ci, co] = o.shape as [number, number, number, number];
  const oihw = new Float32Array(o.weight.length);
  for (let i = 0; i < kh * kw; i++) for (let c = 0; c < ci; c++) for (let k = 0; k < co; k++) oihw[(k * ci + c) * kh * kw + i] = o.weight[(i * ci + c) * co + k]! * (o.scale?.[k] ?? 1);
  g.floatConstants.push({ name: `${o.name}.weight`, shape: [co, ci, kh, kw], data: oihw }, { name: `${o.name}.bias`, shape: [co], data: o.bias });
  const [s, d, p] = [o.stride ?? 1, o.dilation ?? 1, o.pad];
  g.nodes.push({ op: "Conv", inputs: [o.input, `${o.name}.weight`, `${o.name}.bias`], outputs: [o.output], attrs: { kernel_shape: [kh, kw], strides: [s, s], dilations: [d, d], pads: [p, p, p, p] } });
  return o.output;
}

// onnxruntime-node's public API, for whole models (exported segmentation networks): this package's
// optional dependency, loaded on first use. The conv kernels (./kernels/ort.ts) call its native
// binding instead; both load the same library.
import type * as Ort from "onnxruntime-node";

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

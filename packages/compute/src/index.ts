// @adaptseg/compute: TF.js backend selection, the kernels TF.js lacks or gets wrong (registered by
// explicit calls: selectBackend / registerComputeKernels, never on import), dilated convolution,
// the exact resizeBilinear gradient, and the segmentation losses.
export * from "./backend.js";
export * from "./ops/dilated.js";
export * from "./ops/resize.js";
export * from "./kernels/index.js";
export * from "./losses.js";
export * from "./onnx-runtime.js";
export { UnsupportedVersionError, WASM_VERSION, ORT_VERSION } from "./internals.js";

// Kernels that TF.js's wasm backend lacks for training (registered once, before training).
// See ../../README section "Compute backends".
export function registerWasmTrainingKernels(): void {
  // Filled in by the wasm-kernels work (Conv2DBackpropFilter etc.).
}

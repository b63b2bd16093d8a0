// The one place that uses other packages' private internals, each checked at run time against the
// version it was written for (on another version: a clear message and the plain kernels instead).
//
// - @tensorflow/tfjs-backend-wasm 4.22.0: its backend's heap (`makeOutput`, `typedArrayFromHeap`),
//   which the heap kernels (./kernels/heap.ts) and the onnxruntime kernels (./kernels/ort.ts) read
//   and write directly. On another version the wasm backend is not used (selectBackend says why and,
//   unless wasm was asked for, goes on to cpu).
// - onnxruntime-node 1.30.x: its native binding (`dist/binding.js`). TF.js kernels are synchronous;
//   the public `InferenceSession.run` returns a Promise that only wraps the binding's synchronous
//   `run` in setImmediate, so the binding is called directly. On another version the onnxruntime
//   kernels stay off (`adaptseg info` prints why) and wasm runs its own kernels.
import type * as tf from "@tensorflow/tfjs-core";
import type { TensorInfo } from "@tensorflow/tfjs-core";

/** The tfjs-backend-wasm version whose heap API the kernels use. */
export const WASM_VERSION = "4.22.0";
/** The onnxruntime-node versions whose native binding the onnxruntime kernels call. */
export const ORT_VERSION = /^1\.30\./;

// ---------------------------------------------------------------- tfjs-backend-wasm

/** The tfjs-backend-wasm version loaded through loadWasmBackend (undefined: not loaded that way). */
let wasmVersion: string | undefined;

const wasmMismatch = (v: string) =>
  `@tensorflow/tfjs-backend-wasm ${v} is installed, but AdaptSeg's wasm training kernels use its private heap API and were written for ${WASM_VERSION}: install @tensorflow/tfjs-backend-wasm@${WASM_VERSION} or use another backend`;

/** Thrown where an installed package is not the version these adapters were written for. */
export class UnsupportedVersionError extends Error {
  override name = "UnsupportedVersionError";
}

/** Imports @tensorflow/tfjs-backend-wasm; throws UnsupportedVersionError when it is not WASM_VERSION. */
export async function loadWasmBackend(): Promise<typeof import("@tensorflow/tfjs-backend-wasm")> {
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  wasmVersion = wasm.version_wasm;
  if (wasmVersion !== WASM_VERSION) throw new UnsupportedVersionError(wasmMismatch(wasmVersion));
  return wasm;
}

/** Throws when the tfjs-backend-wasm loaded through loadWasmBackend is not WASM_VERSION (call before patching wasm kernels). */
export function checkWasmInternals(): void {
  if (wasmVersion !== undefined && wasmVersion !== WASM_VERSION) throw new UnsupportedVersionError(wasmMismatch(wasmVersion));
}

/** The wasm heap, as the heap and onnxruntime kernels use it. */
export interface WasmHeap {
  /** A new float32 tensor allocated on the heap (may grow the heap: take views after it). */
  output(shape: number[]): TensorInfo;
  /** A Float32Array view of a float32 tensor's data on the heap. */
  view(t: TensorInfo): Float32Array;
}

type BackendWasm = tf.KernelBackend & {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
};
const heaps = new WeakMap<tf.KernelBackend, WasmHeap>();

/** The heap of the wasm backend running a kernel; throws naming the version when its heap API is not there. */
export function wasmHeap(backend: tf.KernelBackend): WasmHeap {
  let h = heaps.get(backend);
  if (h) return h;
  const b = backend as BackendWasm;
  if (typeof b.makeOutput !== "function" || typeof b.typedArrayFromHeap !== "function")
    throw new UnsupportedVersionError(
      `the wasm backend has no makeOutput/typedArrayFromHeap: AdaptSeg's wasm kernels were written for @tensorflow/tfjs-backend-wasm ${WASM_VERSION}${wasmVersion ? ` (installed: ${wasmVersion})` : ""}`,
    );
  h = { output: (shape) => b.makeOutput(shape, "float32"), view: (t) => b.typedArrayFromHeap(t) };
  heaps.set(backend, h);
  return h;
}

// ---------------------------------------------------------------- onnxruntime-node

/** One loaded model, run synchronously with ORT tensors as feeds and pre-allocated fetches. */
export interface OrtSession {
  run(feeds: Record<string, unknown>, fetches: Record<string, unknown>): void;
  dispose(): void;
}

/** What the onnxruntime kernels need of onnxruntime-node. */
export interface OrtNative {
  version: string;
  /** A new native session holding `model` (ONNX bytes). */
  open(model: Uint8Array, options: object): OrtSession;
  /** An ORT float32 tensor viewing `data` (no copy). */
  tensor(data: Float32Array, dims: readonly number[]): unknown;
}

interface OrtTensorCtor {
  new (type: "float32", data: Float32Array, dims: readonly number[]): unknown;
}
interface NativeSession {
  loadModel(buf: ArrayBufferLike, offset: number, length: number, options: object): void;
  run(feeds: Record<string, unknown>, fetches: Record<string, unknown>, options: object): Record<string, unknown>;
  dispose(): void;
}
type Binding = { InferenceSession: new () => NativeSession };
type Main = { Tensor?: OrtTensorCtor; env?: { versions?: Record<string, string> } };

/**
 * Imports onnxruntime-node (`spec`) and its native binding. Returns why it cannot be used (another
 * version than ORT_VERSION, no binding), or the adapter; throws when the package does not load.
 */
export async function loadOrtNative(spec = "onnxruntime-node"): Promise<OrtNative | string> {
  const m = (await import(spec)) as Main & { default?: Main };
  const version = m.env?.versions?.node ?? m.default?.env?.versions?.node;
  if (!version || !ORT_VERSION.test(version)) return `${spec} ${version ?? "(version unknown)"} is installed, but the onnxruntime kernels call its private native binding and were written for 1.30.x`;
  const b = (await import(`${spec}/dist/binding.js`)) as { binding?: Binding; initOrt?: () => void; default?: { binding: Binding; initOrt: () => void } };
  const binding = b.binding ?? b.default?.binding;
  const initOrt = b.initOrt ?? b.default?.initOrt;
  const Tensor = m.Tensor ?? m.default?.Tensor;
  if (!binding?.InferenceSession || !initOrt || !Tensor) return `${spec} loaded but has no native InferenceSession binding`;
  initOrt();
  return {
    version,
    open(model, options) {
      const s = new binding.InferenceSession();
      try {
        s.loadModel(model.buffer, model.byteOffset, model.byteLength, options);
      } catch (e) {
        s.dispose();
        throw e;
      }
      return { run: (feeds, fetches) => void s.run(feeds, fetches, {}), dispose: () => s.dispose() };
    },
    tensor: (data, dims) => new Tensor("float32", data, dims),
  };
}

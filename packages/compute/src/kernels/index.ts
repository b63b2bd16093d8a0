// Kernels that TF.js 4.22's wasm backend lacks, gets wrong, or runs slowly for training,
// registered once before training. Each is a composition of fast wasm kernels (XNNPACK conv2d /
// matMul, slices, transposes): no heavy work falls back to pure JS.
//
// - Conv2DBackpropFilter: missing on wasm, so conv nets cannot train there as shipped.
//   dW[kh,kw,ci,co] = sum_{n,h,w} xpad[n, h*s + kh*d, w*s + kw*d, ci] * dy[n,h,w,co]: one matMul
//   per filter tap, [Cin, N*oh*ow] x [N*oh*ow, Cout], on a (strided) slice of x transposed once to
//   [Cin, N, H, W]. The contraction dim is contiguous on both sides, so this runs as a plain GEMM
//   (13-19 GFLOP/s here), 1.4-2x faster than the equivalent conv2d over transposed tensors (~9:
//   its contraction is a huge 1-channel "kernel") and than one GEMM over concatenated taps.
// - Conv2DBackpropInput: wasm ships a naive C++ loop (~2.3 GFLOP/s against ~28 for its XNNPACK
//   conv2d). Replaced by conv2d(dy, filter rotated 180 degrees with in/out swapped): for stride
//   s > 1 as s*s phase convs with sub-filters (no multiplications by inserted zeros); the shipped
//   kernel stays the fallback for shapes this does not cover (NCHW, padding larger than the kernel).
// - MaxPoolGrad: wasm's drops windows (wrong gradients for batch > 1 and 'same' padding).
//   Replaced by a loop over the wasm heap (./heap.ts; ties go to the first max, as on cpu), as are
//   SpaceToBatchND / BatchToSpaceND (wasm: pad + 6-D transpose, ~100 ms each at 128x256 inputs).
// - With onnxruntime-node present, conv2d and both its gradients run there (./ort.ts).
// Every other kernel a training step of our networks uses (relu, leakyRelu, resizeBilinear and its
// gradient, softmax / logSoftmax, sigmoid, space-to-batch / batch-to-space, optimiser updates) is
// present and matches the cpu backend: see test/kernels.test.ts.
import * as tf from "@tensorflow/tfjs-core";
// tfjs-core alone registers NO gradient functions (tf.grad fails with "gradient function not found
// for Sum"); the @tensorflow/tfjs union package registers them all, for every backend, on import.
import "@tensorflow/tfjs";
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from "@tensorflow/tfjs-core";
import { registerHeapKernels } from "./heap.js";
import { checkWasmInternals } from "../internals.js";

type Pads = [number, number];
type Conv2DAttrs = {
  strides: number | [number, number];
  pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  dataFormat: "NHWC" | "NCHW";
  dimRoundingMode?: "floor" | "round" | "ceil";
};

function asTensor(t: TensorInfo | undefined, kernel: string): tf.Tensor {
  if (!(t instanceof tf.Tensor)) throw new Error(`${kernel} (wasm training kernel): expected Tensor inputs, got a bare TensorInfo`);
  return t;
}

/** Pads (positive amounts) or crops (negative amounts) the two spatial dims of an NHWC tensor. */
function padOrCrop(t: tf.Tensor4D, [top, bottom]: Pads, [left, right]: Pads): tf.Tensor4D {
  const [n, h, w, c] = t.shape;
  const crop = (a: number) => Math.max(0, -a);
  if (top < 0 || bottom < 0 || left < 0 || right < 0) t = tf.slice(t, [0, crop(top), crop(left), 0], [n, h - crop(top) - crop(bottom), w - crop(left) - crop(right), c]);
  const pad = (a: number) => Math.max(0, a);
  if (top > 0 || bottom > 0 || left > 0 || right > 0)
    t = tf.pad(t, [
      [0, 0],
      [pad(top), pad(bottom)],
      [pad(left), pad(right)],
      [0, 0],
    ]);
  return t;
}

/** Puts s-1 zeros after every pixel: [N,h,w,C] -> [N, h*sh, w*sw, C] (the transpose of a strided slice). */
function spreadOut(t: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return t;
  const [n, h, w, c] = t.shape;
  const e = tf.reshape(t, [n, h, 1, w, 1, c]);
  return tf.reshape(
    tf.pad(e, [
      [0, 0],
      [0, 0],
      [0, sh - 1],
      [0, 0],
      [0, sw - 1],
      [0, 0],
    ]),
    [n, h * sh, w * sw, c],
  );
}

/**
 * The filter gradient of conv2d(x, w, stride, pad, dilation), NHWC / HWIO, as per-tap GEMMs.
 * Exported for tests and benches; `Conv2DBackpropFilter` calls it with dilation 1.
 */
export function conv2dFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, info: tf.backend_util.Conv2DInfo): tf.Tensor4D {
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const { batchSize: n, inHeight, inWidth, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co } = info;
  const { top, left } = info.padInfo;
  return tf.tidy(() => {
    const rows = n * oh * ow;
    const dy2 = tf.reshape(dy, [rows, co]);
    // x as [Cin, N, H, W], padded so that every tap's strided window lies inside it.
    const needH = (oh - 1) * sh + (kh - 1) * dh + 1;
    const needW = (ow - 1) * sw + (kw - 1) * dw + 1;
    const xp = padOrCrop(x, [top, needH - top - inHeight], [left, needW - left - inWidth]);
    const xt = tf.transpose(xp, [3, 0, 1, 2]);
    const taps: tf.Tensor[] = [];
    for (let i = 0; i < kh; i++)
      for (let j = 0; j < kw; j++) {
        // (wasm's Slice is ~1.5x faster than its StridedSlice: use it when the stride is 1)
        const win =
          sh === 1 && sw === 1
            ? tf.slice(xt, [0, 0, i * dh, j * dw], [ci, n, oh, ow])
            : tf.stridedSlice(xt, [0, 0, i * dh, j * dw], [ci, n, i * dh + (oh - 1) * sh + 1, j * dw + (ow - 1) * sw + 1], [1, 1, sh, sw]);
        taps.push(tf.matMul(tf.reshape(win, [ci, rows]), dy2));
      }
    return tf.reshape(tf.stack(taps), [kh, kw, ci, co]) as tf.Tensor4D;
  });
}

/**
 * The input gradient of conv2d(x, w, stride, pad) (dilation 1), NHWC / HWIO, as one conv2d:
 * dx = conv2d(dy dilated by the stride and padded, w rotated 180 degrees with in/out swapped).
 * Returns null where this formulation does not apply (padding larger than the kernel).
 */
export function conv2dInputGrad(dy: tf.Tensor4D, w: tf.Tensor4D, info: tf.backend_util.Conv2DInfo): tf.Tensor4D | null {
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, inHeight, inWidth } = info;
  const top = kh - 1 - info.padInfo.top;
  const left = kw - 1 - info.padInfo.left;
  if (top < 0 || left < 0 || info.dilationHeight !== 1 || info.dilationWidth !== 1) return null;
  if (sh > 1 && sh === sw) return tf.tidy(() => inputGradByPhase(dy, w, info));
  return tf.tidy(() => {
    let d = spreadOut(dy, sh, sw);
    const [, dH, dW] = d.shape;
    d = padOrCrop(d, [top, inHeight + kh - 1 - top - dH], [left, inWidth + kw - 1 - left - dW]);
    const wr = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    return tf.conv2d(d, wr, 1, "valid");
  });
}

/**
 * conv2dInputGrad for stride s > 1 without multiplying zeros: the rows (cols) of dx with
 * index = r mod s only meet filter taps c, c+s, c+2s... (c = (r + pad) mod s), so each of the s*s
 * phases is one stride-1 conv2d of dy with a sub-filter; depthToSpace interleaves the phases.
 * dx[s*t + r] = sum_j dy[t + e - j] * w[c + s*j], e = floor((r + pad) / s).
 */
function inputGradByPhase(dy: tf.Tensor4D, w: tf.Tensor4D, info: tf.backend_util.Conv2DInfo): tf.Tensor4D {
  const { filterHeight: kh, filterWidth: kw, strideHeight: s, batchSize: n, inHeight: H, inWidth: W, inChannels: ci, outHeight: oh, outWidth: ow } = info;
  const wt = tf.transpose(w, [0, 1, 3, 2]); // [kh, kw, Cout, Cin]
  const phase = (r: number, pad: number, k: number, size: number, out: number) => {
    const c = (r + pad) % s;
    const taps = Math.max(0, Math.ceil((k - c) / s));
    const top = taps - 1 - Math.floor((r + pad) / s);
    const len = Math.ceil((size - r) / s); // dx rows of this phase
    return { c, taps, len, pads: [top, len + taps - 1 - top - out] as Pads };
  };
  const th = Math.ceil(H / s);
  const tw = Math.ceil(W / s);
  const parts: tf.Tensor4D[] = [];
  for (let rh = 0; rh < s; rh++)
    for (let rw = 0; rw < s; rw++) {
      const a = phase(rh, info.padInfo.top, kh, H, oh);
      const b = phase(rw, info.padInfo.left, kw, W, ow);
      if (!a.taps || !b.taps || a.len <= 0 || b.len <= 0) {
        parts.push(tf.zeros([n, th, tw, ci]));
        continue;
      }
      const sub = tf.reverse(tf.stridedSlice(wt, [a.c, b.c, 0, 0], [a.c + s * (a.taps - 1) + 1, b.c + s * (b.taps - 1) + 1, wt.shape[2], ci], [s, s, 1, 1]), [0, 1]) as tf.Tensor4D;
      const y = tf.conv2d(padOrCrop(dy, a.pads, b.pads), sub, 1, "valid"); // [N, a.len, b.len, Cin]
      parts.push(padOrCrop(y, [0, th - a.len], [0, tw - b.len]));
    }
  return tf.slice(tf.depthToSpace(tf.concat(parts, 3) as tf.Tensor4D, s), [0, 0, 0, 0], [n, H, W, ci]);
}

function convInfo(xShape: number[], filterShape: number[], attrs: Conv2DAttrs): tf.backend_util.Conv2DInfo {
  const { strides, pad, dimRoundingMode } = attrs;
  return tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number], strides, 1, pad, dimRoundingMode);
}

const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: "wasm",
  kernelFunc: (({ inputs, attrs }: { inputs: NamedTensorInfoMap; attrs: NamedAttrMap }) => {
    const a = attrs as unknown as Conv2DAttrs & { filterShape: [number, number, number, number] };
    if (a.dataFormat === "NCHW") throw new Error("Conv2DBackpropFilter (wasm training kernel): only NHWC is supported");
    const x = asTensor(inputs.x, tf.Conv2DBackpropFilter) as tf.Tensor4D;
    const dy = asTensor(inputs.dy, tf.Conv2DBackpropFilter) as tf.Tensor4D;
    return conv2dFilterGrad(x, dy, convInfo(x.shape, a.filterShape, a));
  }) as unknown as KernelFunc,
};

function conv2DBackpropInputConfig(shipped: KernelConfig | undefined): KernelConfig {
  return {
    kernelName: tf.Conv2DBackpropInput,
    backendName: "wasm",
    setupFunc: shipped?.setupFunc,
    kernelFunc: ((args: { inputs: NamedTensorInfoMap; attrs: NamedAttrMap; backend: tf.KernelBackend }) => {
      const a = args.attrs as unknown as Conv2DAttrs & { inputShape: [number, number, number, number] };
      const dy = asTensor(args.inputs.dy, tf.Conv2DBackpropInput) as tf.Tensor4D;
      const w = asTensor(args.inputs.filter, tf.Conv2DBackpropInput) as tf.Tensor4D;
      const fast = a.dataFormat === "NCHW" ? null : conv2dInputGrad(dy, w, convInfo(a.inputShape, w.shape, a));
      if (fast) return fast;
      if (!shipped) throw new Error("Conv2DBackpropInput (wasm training kernel): unsupported shape and no shipped kernel");
      return shipped.kernelFunc(args);
    }) as unknown as KernelFunc,
  };
}

const TAG = Symbol.for("adaptseg.wasmTrainingKernels");

/**
 * Registers on the "wasm" backend the kernels a training step needs that TF.js 4.22's wasm
 * backend lacks, gets wrong or runs slowly. Idempotent. The wasm backend's set-up (selectBackend)
 * calls it, after loading @tensorflow/tfjs-backend-wasm; so does registerComputeKernels where wasm is loaded.
 */
export function registerWasmTrainingKernels(): void {
  const reg = globalThis as unknown as Record<symbol, boolean>;
  if (reg[TAG]) return;
  checkWasmInternals();
  if (!tf.getKernel(tf.Conv2DBackpropFilter, "wasm")) tf.registerKernel(conv2DBackpropFilterConfig);
  const shipped = tf.getKernel(tf.Conv2DBackpropInput, "wasm");
  if (shipped) tf.unregisterKernel(tf.Conv2DBackpropInput, "wasm");
  tf.registerKernel(conv2DBackpropInputConfig(shipped));
  registerHeapKernels();
  reg[TAG] = true;
}

export { loadOrt, ortKernelStats, registerOrtKernels, setOrtKernelsActive } from "./ort.js";
export { encodeOnnxModel, readOnnxMetadata, type OnnxAttr, type OnnxGraph, type OnnxNode } from "./onnx-graph.js";

// Data-movement kernels for the wasm backend written as plain loops over the wasm heap.
// tfjs-backend-wasm 4.22 builds SpaceToBatchND / BatchToSpaceND from pad + a 6-D transpose, and a
// correct MaxPoolGrad needs a dozen ops as a composition; each is memory-bound work that a single
// pass does in a few milliseconds (dilatedConv2d runs them around every dilated conv).
import * as tf from "@tensorflow/tfjs-core";
import type { KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from "@tensorflow/tfjs-core";
import { wasmHeap, type WasmHeap } from "../internals.js";
export type Args = { inputs: NamedTensorInfoMap; attrs: NamedAttrMap; backend: tf.KernelBackend };

function input(a: Args, name: string, kernel: string): TensorInfo {
  const t = a.inputs[name];
  if (!t) throw new Error(`${kernel} (wasm heap kernel): missing input ${name}`);
  return t;
}

/**
 * Moves C-float pixel runs between x [N,H,W,C] (the space side, padded by `pads` = [top, left])
 * and the batch side [bh*bw*N, h, w, C]: batch (i*bw + j)*N + n, pixel (y, x) <-> space pixel
 * (y*bh + i - top, x*bw + j - left) of image n. Space pixels outside x are zero (to batch) or
 * dropped (to space).
 */
function shuffle(space: Float32Array, spaceShape: number[], batch: Float32Array, batchShape: number[], block: number[], pads: number[], toBatch: boolean) {
  const [n, H, W, C] = spaceShape as [number, number, number, number];
  const [, h, w] = batchShape as [number, number, number, number];
  const [bh, bw] = block as [number, number];
  const [top, left] = pads as [number, number];
  if (toBatch) batch.fill(0);
  for (let i = 0; i < bh; i++)
    for (let j = 0; j < bw; j++)
      for (let b = 0; b < n; b++) {
        const ob = (i * bw + j) * n + b;
        for (let y = 0; y < h; y++) {
          const Y = y * bh + i - top;
          if (Y < 0 || Y >= H) continue;
          for (let x = 0; x < w; x++) {
            const X = x * bw + j - left;
            if (X < 0 || X >= W) continue;
            const s = ((b * H + Y) * W + X) * C;
            const d = ((ob * h + y) * w + x) * C;
            if (toBatch) batch.set(space.subarray(s, s + C), d);
            else space.set(batch.subarray(d, d + C), s);
          }
        }
      }
}

/**
 * Replaces wasm kernels by functions that may decline (return null): those inputs go to the kernel
 * registered before (the shipped one, or ours), or fail naming the kernel and `what` if none.
 */
export function overrideWasmKernels(what: string, kernels: readonly (readonly [string, (a: Args, heap: WasmHeap) => TensorInfo | null])[]): void {
  for (const [name, f] of kernels) {
    const prev = tf.getKernel(name, "wasm");
    if (prev) tf.unregisterKernel(name, "wasm");
    tf.registerKernel({
      kernelName: name,
      backendName: "wasm",
      setupFunc: prev?.setupFunc,
      disposeFunc: prev?.disposeFunc,
      kernelFunc: ((a: Args) => {
        const out = f(a, wasmHeap(a.backend));
        if (out) return out;
        if (!prev) throw new Error(`${name} (${what}): unsupported input and no wasm kernel to fall back to`);
        return prev.kernelFunc(a as never);
      }) as unknown as KernelFunc,
    });
  }
}

const spaceToBatch = (a: Args, heap: WasmHeap) => {
  const x = input(a, "x", tf.SpaceToBatchND);
  const { blockShape, paddings } = a.attrs as unknown as { blockShape: number[]; paddings: [number, number][] };
  if (x.shape.length !== 4 || blockShape.length !== 2 || x.dtype !== "float32") return null;
  const [n, H, W, C] = x.shape as [number, number, number, number];
  const [bh, bw] = blockShape as [number, number];
  const [[pt, pb], [pl, pr]] = paddings as [[number, number], [number, number]];
  const outShape = [n * bh * bw, (H + pt + pb) / bh, (W + pl + pr) / bw, C];
  if (!Number.isInteger(outShape[1]) || !Number.isInteger(outShape[2])) throw new Error(`${tf.SpaceToBatchND}: padded size is not a multiple of the block shape`);
  const out = heap.output(outShape);
  shuffle(heap.view(x), x.shape, heap.view(out), outShape, blockShape, [pt, pl], true);
  return out;
};

const batchToSpace = (a: Args, heap: WasmHeap) => {
  const x = input(a, "x", tf.BatchToSpaceND);
  const { blockShape, crops } = a.attrs as unknown as { blockShape: number[]; crops: [number, number][] };
  if (x.shape.length !== 4 || blockShape.length !== 2 || x.dtype !== "float32") return null;
  const [nb, h, w, C] = x.shape as [number, number, number, number];
  const [bh, bw] = blockShape as [number, number];
  const [[ct, cb], [cl, cr]] = crops as [[number, number], [number, number]];
  const outShape = [nb / (bh * bw), h * bh - ct - cb, w * bw - cl - cr, C];
  const out = heap.output(outShape);
  shuffle(heap.view(out), outShape, heap.view(x), x.shape, blockShape, [ct, cl], false);
  return out;
};

/**
 * The gradient of maxPool (NHWC): each window's dy goes to its first maximum in row-major window
 * order, as on TF and the cpu backend (ties after ReLU are common); padding never wins.
 */
const maxPoolGrad = (a: Args, heap: WasmHeap) => {
  const x = input(a, "input", tf.MaxPoolGrad);
  const dyT = input(a, "dy", tf.MaxPoolGrad);
  const { filterSize, strides, pad, dimRoundingMode } = a.attrs as unknown as {
    filterSize: number | [number, number];
    strides: number | [number, number];
    pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
    dimRoundingMode?: "floor" | "round" | "ceil";
  };
  if (x.dtype !== "float32") return null;
  const info = tf.backend_util.computePool2DInfo(x.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  const { batchSize: n, inHeight: H, inWidth: W, inChannels: C, outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
  const { effectiveFilterHeight: fh, effectiveFilterWidth: fw } = info;
  const { top, left } = info.padInfo;
  const out = heap.output(x.shape);
  const xs = heap.view(x);
  const dy = heap.view(dyT);
  const dx = heap.view(out);
  dx.fill(0);
  const best = new Float32Array(C);
  const at = new Int32Array(C);
  for (let bi = 0; bi < n; bi++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++) {
        best.fill(-Infinity);
        at.fill(-1);
        for (let r = oy * sh - top; r < oy * sh - top + fh; r++) {
          if (r < 0 || r >= H) continue;
          for (let c = ox * sw - left; c < ox * sw - left + fw; c++) {
            if (c < 0 || c >= W) continue;
            const base = ((bi * H + r) * W + c) * C;
            for (let ch = 0; ch < C; ch++) {
              const v = xs[base + ch]!;
              if (v > best[ch]!) {
                best[ch] = v;
                at[ch] = base + ch;
              }
            }
          }
        }
        const o = ((bi * oh + oy) * ow + ox) * C;
        for (let ch = 0; ch < C; ch++) if (at[ch]! >= 0) dx[at[ch]!] += dy[o + ch]!;
      }
  return out;
};

/** Replaces wasm's SpaceToBatchND, BatchToSpaceND and MaxPoolGrad (NHWC float32; others go to the shipped kernels). */
export function registerHeapKernels(): void {
  overrideWasmKernels("wasm heap kernel", [
    [tf.SpaceToBatchND, spaceToBatch],
    [tf.BatchToSpaceND, batchToSpace],
    [tf.MaxPoolGrad, maxPoolGrad],
  ]);
}

// The gradient of tf.image.resizeBilinear, replaced for every backend. TF.js 4.22's
// ResizeBilinearGrad kernels ignore `halfPixelCenters`: on cpu and wasm they return the adjoint of
// the align_corners=False, half_pixel_centers=False resize, so `upsample` (PyTorch's
// align_corners=False = half-pixel centres) got wrong gradients (up to half the true value per
// pixel; a few % on every weight of G). The cpu kernel also labels its result [N,W,H,C], so the
// gradient of any non-square resize threw there. This is the exact adjoint of the forward
// (tfjs-backend-cpu's ResizeBilinear): each output pixel's gradient goes to its four source
// pixels with the forward's bilinear weights. On cpu and wasm, plain JS on the gradient's data,
// O(output size); on other backends (webgpu, tfjs-node) two matrix products with the interpolation
// matrices along H and W, which keep the gradient on the device (no synchronous read).
import * as tf from "@tensorflow/tfjs-core";
// Registers TF.js's own gradients first, so that ours replaces theirs (not the other way round).
import "@tensorflow/tfjs";

/** Source rows (or columns) and weights of each output index, as the forward computes them. */
function taps(outSize: number, inSize: number, alignCorners: boolean, halfPixelCenters: boolean) {
  const ratio = alignCorners && outSize > 1 ? (inSize - 1) / (outSize - 1) : inSize / outSize;
  const lo = new Int32Array(outSize),
    hi = new Int32Array(outSize),
    frac = new Float32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const src = halfPixelCenters ? ratio * (o + 0.5) - 0.5 : ratio * o;
    lo[o] = Math.max(0, Math.floor(src));
    hi[o] = Math.min(inSize - 1, Math.ceil(src));
    frac[o] = src - lo[o]!;
  }
  return { lo, hi, frac };
}

/** d(loss)/d(images) from d(loss)/d(resized): images [N,h,w,C], dy [N,H,W,C]. */
export function resizeBilinearBackward(dy: ArrayLike<number>, [n, H, W, c]: number[], [h, w]: number[], alignCorners: boolean, halfPixelCenters: boolean): Float32Array {
  const dx = new Float32Array(n! * h! * w! * c!);
  const R = taps(H!, h!, alignCorners, halfPixelCenters);
  const C = taps(W!, w!, alignCorners, halfPixelCenters);
  let p = 0;
  for (let b = 0; b < n!; b++)
    for (let r = 0; r < H!; r++) {
      const fr = R.frac[r]!,
        top = (b * h! + R.lo[r]!) * w!,
        bot = (b * h! + R.hi[r]!) * w!;
      for (let col = 0; col < W!; col++) {
        const fc = C.frac[col]!,
          l = C.lo[col]!,
          rt = C.hi[col]!;
        const tl = (top + l) * c!,
          tr = (top + rt) * c!,
          bl = (bot + l) * c!,
          br = (bot + rt) * c!;
        const wtl = (1 - fr) * (1 - fc),
          wtr = (1 - fr) * fc,
          wbl = fr * (1 - fc),
          wbr = fr * fc;
        for (let d = 0; d < c!; d++, p++) {
          const g = dy[p]!;
          dx[tl + d] += g * wtl;
          dx[tr + d] += g * wtr;
          dx[bl + d] += g * wbl;
          dx[br + d] += g * wbr;
        }
      }
    }
  return dx;
}

/** The interpolation matrix of one axis, transposed: [inSize, outSize], column o = output o's weights. */
function adjointMatrix(outSize: number, inSize: number, alignCorners: boolean, halfPixelCenters: boolean): tf.Tensor2D {
  const { lo, hi, frac } = taps(outSize, inSize, alignCorners, halfPixelCenters);
  const m = new Float32Array(inSize * outSize);
  for (let o = 0; o < outSize; o++) {
    m[lo[o]! * outSize + o] += 1 - frac[o]!;
    m[hi[o]! * outSize + o] += frac[o]!;
  }
  return tf.tensor2d(m, [inSize, outSize]);
}

/** resizeBilinearBackward on the device: dy [N,H,W,C] -> [N,h,w,C] as two matrix products. */
export function resizeBilinearBackwardTensor(dy: tf.Tensor4D, [h, w]: number[], alignCorners: boolean, halfPixelCenters: boolean): tf.Tensor4D {
  const [n, H, W, c] = dy.shape;
  return tf.tidy(() => {
    const rows = tf.matMul(adjointMatrix(H, h!, alignCorners, halfPixelCenters), dy.transpose([1, 0, 2, 3]).reshape([H, n * W * c])); // [h, N*W*C]
    const cols = rows
      .reshape([h!, n, W, c])
      .transpose([2, 0, 1, 3])
      .reshape([W, h! * n * c]);
    return tf
      .matMul(adjointMatrix(W, w!, alignCorners, halfPixelCenters), cols)
      .reshape([w!, h!, n, c])
      .transpose([2, 1, 0, 3]) as tf.Tensor4D;
  });
}

/**
 * Installs the exact resizeBilinear gradient for every backend (idempotent). Not done on import:
 * selectBackend and registerComputeKernels call it.
 */
export function registerResizeBilinearGrad(): void {
  tf.registerGradient({
    kernelName: tf.ResizeBilinear,
    inputsToSave: ["images"],
    gradFunc: (dy, saved, attrs) => {
      const [images] = saved as [tf.Tensor4D];
      const { alignCorners, halfPixelCenters } = attrs as unknown as { alignCorners: boolean; halfPixelCenters: boolean };
      const g = dy as tf.Tensor4D;
      const size = images.shape.slice(1, 3);
      // cpu and wasm: the JS loop on host memory (a copy, not a device round trip).
      if (tf.getBackend() === "cpu" || tf.getBackend() === "wasm")
        return { images: () => tf.tensor4d(resizeBilinearBackward(g.dataSync(), g.shape, size, !!alignCorners, !!halfPixelCenters), images.shape) };
      return { images: () => resizeBilinearBackwardTensor(g, size, !!alignCorners, !!halfPixelCenters) };
    },
  });
}

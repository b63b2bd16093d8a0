// DACS's strong augmentation of the mixed image: colour jitter (probability 0.8, kornia's ColorJitter
// with brightness, contrast, saturation and hue 0.2) and Gaussian blur (probability 0.5, sigma in
// [0.15, 1.15], kernel about 0.1 of the image side, odd). Images are network inputs: BGR minus IMG_MEAN.
import * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "@adaptseg/core";

export const IMG_MEAN_BGR = [104.00698793, 116.66876762, 122.67891434] as const;

export interface PhotometricParams {
  /** Colour jitter factors, or undefined when not applied. hue is a fraction of a full turn. */
  jitter?: { brightness: number; contrast: number; saturation: number; hue: number };
  /** Blur sigma, or undefined when not applied. */
  blur?: number;
}

/** Draws the parameters for one image (the official draw: jitter when u > 0.2, blur when u > 0.5). */
export function drawPhotometric(rng: Rng): PhotometricParams {
  const u = (lo: number, hi: number) => lo + (hi - lo) * rng.next();
  const p: PhotometricParams = {};
  if (rng.next() > 0.2) p.jitter = { brightness: u(0.8, 1.2), contrast: u(0.8, 1.2), saturation: u(0.8, 1.2), hue: u(-0.2, 0.2) };
  if (rng.next() > 0.5) p.blur = u(0.15, 1.15);
  return p;
}

/** The official kernel size for a side: floor(ceil(0.1 * side) - 0.5 + ceil(0.1 * side) % 2), odd. */
export const blurKernelSize = (side: number) => Math.floor(Math.ceil(0.1 * side) - 0.5 + (Math.ceil(0.1 * side) % 2));

function gaussian1d(size: number, sigma: number): tf.Tensor1D {
  const half = (size - 1) / 2;
  const k = Array.from({ length: size }, (_, i) => Math.exp(-((i - half) ** 2) / (2 * sigma * sigma)));
  const s = k.reduce((a, b) => a + b, 0);
  return tf.tensor1d(k.map((v) => v / s));
}

/** Separable Gaussian blur of [1,H,W,C] with reflect padding (kornia's default border). */
export function gaussianBlur(x: tf.Tensor4D, sigma: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w, c] = x.shape;
    const ky = Math.max(1, blurKernelSize(h)),
      kx = Math.max(1, blurKernelSize(w));
    const py = (ky - 1) / 2,
      px = (kx - 1) / 2;
    const padded = tf.mirrorPad(
      x,
      [
        [0, 0],
        [py, py],
        [px, px],
        [0, 0],
      ],
      "reflect",
    );
    const fy = gaussian1d(ky, sigma).reshape([ky, 1, 1, 1]).tile([1, 1, c, 1]) as tf.Tensor4D;
    const fx = gaussian1d(kx, sigma).reshape([1, kx, 1, 1]).tile([1, 1, c, 1]) as tf.Tensor4D;
    return tf.depthwiseConv2d(tf.depthwiseConv2d(padded, fy, 1, "valid"), fx, 1, "valid");
  });
}

/** RGB in [0,1] rotated in hue by 2*pi*hue about the grey axis (the W3C filter-effects hue-rotate matrix; exact identity at 0). */
function hueRotate(rgb: tf.Tensor4D, hue: number): tf.Tensor4D {
  const a = 2 * Math.PI * hue,
    c = Math.cos(a),
    s = Math.sin(a);
  const M = [
    [0.213 + c * 0.787 - s * 0.213, 0.715 - c * 0.715 - s * 0.715, 0.072 - c * 0.072 + s * 0.928],
    [0.213 - c * 0.213 + s * 0.143, 0.715 + c * 0.285 + s * 0.14, 0.072 - c * 0.072 - s * 0.283],
    [0.213 - c * 0.213 - s * 0.787, 0.715 - c * 0.715 + s * 0.715, 0.072 + c * 0.928 + s * 0.072],
  ]; // out = M * in, per pixel
  const [n, h, w] = rgb.shape;
  return tf.matMul(rgb.reshape([-1, 3]), tf.tensor2d(M).transpose()).reshape([n, h, w, 3]) as tf.Tensor4D;
}

/** Applies colour jitter then blur to one network-input image [1,H,W,3] (BGR minus mean); returns the same form. */
export function photometric(x: tf.Tensor4D, p: PhotometricParams): tf.Tensor4D {
  if (!p.jitter && p.blur === undefined) return x.clone();
  return tf.tidy(() => {
    const mean = tf.tensor1d([...IMG_MEAN_BGR]);
    let y = x;
    if (p.jitter) {
      const j = p.jitter;
      let rgb = tf.reverse(x.add(mean).div(255), -1).clipByValue(0, 1) as tf.Tensor4D;
      const grey = (t: tf.Tensor4D) => t.mul(tf.tensor1d([0.299, 0.587, 0.114])).sum(-1, true);
      const blend = (a: tf.Tensor, b: tf.Tensor, f: number) => a.sub(b).mul(f).add(b).clipByValue(0, 1) as tf.Tensor4D;
      rgb = rgb.mul(j.brightness).clipByValue(0, 1) as tf.Tensor4D;
      rgb = blend(rgb, grey(rgb).mean(), j.contrast);
      rgb = blend(rgb, grey(rgb), j.saturation);
      rgb = hueRotate(rgb, j.hue).clipByValue(0, 1) as tf.Tensor4D;
      y = tf.reverse(rgb, -1).mul(255).sub(mean);
    }
    return p.blur !== undefined ? gaussianBlur(y, p.blur) : y;
  });
}

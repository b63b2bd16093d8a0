// Loss functions of SPEC section 2.
import * as tf from "@tensorflow/tfjs-core";

/**
 * Mean cross-entropy over pixels whose label is in [0, C); others (255) are ignored, as
 * torch's CrossEntropyLoss(ignore_index=255). logits [N,H,W,C], labels int32 [N,H,W].
 * Returns 0 when no pixel is labelled.
 */
export function crossEntropy2d(logits: tf.Tensor4D, labels: tf.Tensor3D): tf.Scalar {
  return tf.tidy(() => {
    const c = logits.shape[3];
    // oneHot gives an all-zero row for an out-of-range index, so ignored pixels drop out.
    const onehot = tf.oneHot(labels.toInt(), c) as tf.Tensor4D;
    const count = onehot.sum().maximum(1);
    return tf.logSoftmax(logits).mul(onehot).sum().neg().div(count) as tf.Scalar;
  });
}

/** Bilinear upsampling of logits to (h, w), align_corners=False (PyTorch's `interpolate` default since 0.4). */
export function upsample(x: tf.Tensor4D, h: number, w: number): tf.Tensor4D {
  return x.shape[1] === h && x.shape[2] === w ? x : tf.image.resizeBilinear(x, [h, w], false, true);
}

/** Bilinear upsampling with align_corners=True: the official code's `nn.Upsample(mode="bilinear")` under PyTorch 0.3 (faithful mode). */
export function upsampleAlignCorners(x: tf.Tensor4D, h: number, w: number): tf.Tensor4D {
  return x.shape[1] === h && x.shape[2] === w ? x : tf.image.resizeBilinear(x, [h, w], true, false);
}

/** The upsampling of a `model.upsample` mode: "align-corners", else half-pixel centres. */
export const upsampleFor = (mode: string | undefined): typeof upsample => (mode === "align-corners" ? upsampleAlignCorners : upsample);

// Loss terms of the target-side methods (SPEC section 7), on logits [N,H,W,C] already at label size.
import * as tf from "@tensorflow/tfjs-core";

/** Per-pixel normalised entropy E = -sum_c P_c log P_c / log C, in [0, 1]: [N,H,W]. */
export function entropyMap(logits: tf.Tensor4D): tf.Tensor3D {
  return tf.tidy(() => {
    const logP = tf.logSoftmax(logits);
    return tf.exp(logP).mul(logP).sum(-1).neg().div(Math.log(logits.shape[3])) as tf.Tensor3D;
  });
}

/** ADVENT's MinEnt loss: the mean of `entropyMap` over every pixel. */
export function entropyLoss(logits: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => entropyMap(logits).mean() as tf.Scalar);
}

/** ADVENT's weighted self-information map I = -P * log P / log C (C channels): what AdvEnt's D sees. */
export function selfInformation(logits: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const logP = tf.logSoftmax(logits);
    return tf.exp(logP).mul(logP).neg().div(Math.log(logits.shape[3])) as tf.Tensor4D;
  });
}

/**
 * DACS's pixel-weighted cross-entropy: mean over ALL pixels of weight * CE, where pixels whose label
 * is outside [0, C) (255) contribute 0 (torch CrossEntropyLoss(reduction="none", ignore_index) then
 * `mean(loss * pixelWiseWeight)`). labels int32 [N,H,W], weights [N,H,W].
 */
export function weightedCrossEntropy(logits: tf.Tensor4D, labels: tf.Tensor3D, weights: tf.Tensor3D): tf.Scalar {
  return tf.tidy(() => {
    const onehot = tf.oneHot(labels.toInt(), logits.shape[3]);
    const ce = tf.logSoftmax(logits).mul(onehot).sum(-1).neg();
    return ce.mul(weights).mean() as tf.Scalar;
  });
}

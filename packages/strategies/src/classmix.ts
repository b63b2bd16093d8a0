// ClassMix (DACS, SPEC section 7): half of the classes present in a source label, pasted onto a target image.
import * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "@adaptseg/core";

/** The classes present in `label` (values < numClasses; 255 and other ignored values excluded), ascending. */
export function presentClasses(label: ArrayLike<number>, numClasses: number): number[] {
  const seen = new Uint8Array(numClasses);
  for (let i = 0; i < label.length; i++) if (label[i]! < numClasses) seen[label[i]!] = 1;
  return [...seen.keys()].filter((c) => seen[c]);
}

/** ceil(n/2) of `classes` drawn without replacement (the official `(n + n % 2) / 2`), in draw order. */
export function pickHalf(classes: number[], rng: Rng): number[] {
  const pool = [...classes];
  const out: number[] = [];
  const k = (pool.length + (pool.length % 2)) / 2;
  for (let i = 0; i < k; i++) out.push(pool.splice(rng.int(pool.length), 1)[0]!);
  return out;
}

/** M: 1 where `label` is one of `classes`, else 0, as a Float32Array of the label's size. */
export function classMask(label: ArrayLike<number>, classes: number[]): Float32Array {
  const pick = new Set(classes);
  const m = new Float32Array(label.length);
  for (let i = 0; i < label.length; i++) if (pick.has(label[i]!)) m[i] = 1;
  return m;
}

export interface Mixed {
  /** M * source + (1 - M) * target: [N,H,W,3]. */
  image: tf.Tensor4D;
  /** Source label on M, the pseudo-label elsewhere: int32 [N,H,W]. */
  label: tf.Tensor3D;
  /** 1 on M, `targetWeight` (one number per image) elsewhere: [N,H,W]. */
  weight: tf.Tensor3D;
}

/**
 * Mixes a batch: masks [N,H,W] (0/1), source and target images [N,H,W,3], source labels and target
 * pseudo-labels int32 [N,H,W], targetWeight [N] (the share of confident teacher pixels per image).
 */
export function classMix(mask: tf.Tensor3D, src: tf.Tensor4D, tgt: tf.Tensor4D, srcLabel: tf.Tensor3D, pseudo: tf.Tensor3D, targetWeight: tf.Tensor1D): Mixed {
  return tf.tidy(() => {
    const m4 = mask.expandDims(-1);
    const image = src.mul(m4).add(tgt.mul(tf.sub(1, m4))) as tf.Tensor4D;
    const label = tf.where(mask.cast("bool"), srcLabel.toInt(), pseudo.toInt()) as tf.Tensor3D;
    const tw = targetWeight.reshape([-1, 1, 1]);
    const weight = mask.add(tf.sub(1, mask).mul(tw)) as tf.Tensor3D;
    return { image, label, weight };
  });
}

// Teachers: an exponential moving average of the student (DACS), or the student frozen at a round's start (CBST).
import * as tf from "@tensorflow/tfjs-core";
import type { Network } from "@adaptseg/core";

/**
 * DACS's update after student step `iteration` (0-based): alpha' = min(1 - 1/(iteration + 1), alpha);
 * teacher = alpha' * teacher + (1 - alpha') * student, weight by weight.
 */
export function emaUpdate(teacher: Network, student: Network, alpha: number, iteration: number): void {
  const a = Math.min(1 - 1 / (iteration + 1), alpha);
  for (const [name, t] of teacher.weights) {
    const s = student.weights.get(name);
    if (!s) throw new Error(`EMA teacher: the student has no weight ${name}`);
    tf.tidy(() => t.assign(t.mul(a).add(s.mul(1 - a))));
  }
}

/** teacher := student, weight by weight. */
export function copyWeights(to: Network, from: Network): void {
  for (const [name, t] of to.weights) tf.tidy(() => t.assign(from.weights.get(name)!));
}

/** The teacher's prediction on target images: pseudo-label (argmax, int32 [N,H,W]) and confidence (max softmax, [N,H,W]). */
export function teacherPredict(logits: tf.Tensor4D): { label: tf.Tensor3D; confidence: tf.Tensor3D } {
  return tf.tidy(() => {
    const p = tf.softmax(logits);
    return { label: p.argMax(-1) as tf.Tensor3D, confidence: p.max(-1) as tf.Tensor3D };
  });
}

// Pieces every strategy's step shares: typed options with schema defaults, the source segmentation
// loss (SPEC section 2, step 1) and gradients of the segmentation network.
import * as tf from "@tensorflow/tfjs-core";
import { Value } from "@sinclair/typebox/value";
import type { TSchema, Static } from "@sinclair/typebox";
import type { SegNetwork, SegOutputs, StrategyContext } from "@adaptseg/core";
import { crossEntropy2d } from "@adaptseg/compute";

/** `options` with the schema's defaults filled in (the engine validates; direct library calls get defaults too). */
export function optionsOf<S extends TSchema>(schema: S, options: unknown): Static<S> {
  return Value.Default(schema, Value.Clone(options ?? {})) as Static<S>;
}

/**
 * L_seg = CE(main, y) + lambdaSeg * CE(aux, y) on logits upsampled to the label size. Records `seg`
 * (and `seg_aux`) in `terms`, kept beyond the gradient tape.
 */
export function sourceSegLoss(o: SegOutputs, y: tf.Tensor3D, lambdaSeg: number, up: StrategyContext["upsample"], terms: Record<string, tf.Scalar>): tf.Scalar {
  const [, h, w] = y.shape;
  let loss = (terms.seg = tf.keep(crossEntropy2d(up(o.main, h, w), y)));
  if (o.aux && lambdaSeg > 0) {
    terms.seg_aux = tf.keep(crossEntropy2d(up(o.aux, h, w), y));
    loss = loss.add(terms.seg_aux.mul(lambdaSeg));
  }
  return loss;
}

/** Gradients of `f` for every weight of `net`, keyed by Variable.name. (The value may be a kept term: the caller's tidy disposes it.) */
export function netGrads(net: SegNetwork, f: () => tf.Scalar): Record<string, tf.Tensor> {
  return tf.variableGrads(f, [...net.weights.values()]).grads;
}

/** Upsampled logits (and raw features) of an output, as its consumers see them. */
export function upsampled(o: SegOutputs, h: number, w: number, up: StrategyContext["upsample"]): SegOutputs {
  return { main: up(o.main, h, w), aux: o.aux && up(o.aux, h, w), features: o.features };
}

/**
 * Training outputs of `net` on two batches: one call on their concatenation where the network is
 * batch-independent and the images have the same size (fewer, larger convolutions), else two calls.
 */
export function applyPair(net: SegNetwork, a: tf.Tensor4D, b: tf.Tensor4D): [SegOutputs, SegOutputs] {
  const [n, h, w] = a.shape;
  if (!net.batchIndependent || b.shape[1] !== h || b.shape[2] !== w) return [net.apply(a, { training: true }), net.apply(b, { training: true })];
  const o = net.apply(tf.concat([a, b]), { training: true });
  const part = (t: tf.Tensor4D | undefined, i: 0 | 1) => t && (i ? t.slice(n, b.shape[0]) : t.slice(0, n));
  const split = (i: 0 | 1): SegOutputs => ({ main: part(o.main, i)!, aux: part(o.aux, i), features: part(o.features, i) });
  return [split(0), split(1)];
}

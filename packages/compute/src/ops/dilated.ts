// A dilated (atrous) conv2d that trains on every backend. TF.js's conv2d gradient rejects
// dilation > 1, so dilation is expressed exactly as space-to-batch -> conv2d -> batch-to-space
// (as TensorFlow's atrous_conv2d does); all three ops have gradients.
import * as tf from "@tensorflow/tfjs-core";

export type ConvPadding = "same" | "valid" | number;

/** x: [N,H,W,Cin], w: [kh,kw,Cin,Cout] (HWIO). Stride must be 1 when dilation > 1. */
export function dilatedConv2d(x: tf.Tensor4D, w: tf.Tensor4D, dilation: number, padding: ConvPadding = "same", stride = 1): tf.Tensor4D {
  const [kh, kw] = w.shape;
  if (dilation === 1) {
    if (typeof padding === "number")
      x = padding
        ? tf.pad(x, [
            [0, 0],
            [padding, padding],
            [padding, padding],
            [0, 0],
          ])
        : x;
    return tf.conv2d(x, w, stride, typeof padding === "number" ? "valid" : padding);
  }
  if (stride !== 1) throw new Error(`dilatedConv2d: stride ${stride} with dilation ${dilation} is not supported`);
  const d = dilation;
  const [, H, W] = x.shape;
  const pads = (k: number): [number, number] => {
    if (padding === "valid") return [0, 0];
    if (typeof padding === "number") return [padding, padding];
    const total = d * (k - 1);
    return [Math.floor(total / 2), total - Math.floor(total / 2)];
  };
  const [pt, pb] = pads(kh);
  const [pl, pr] = pads(kw);
  const eh = (d - ((H + pt + pb) % d)) % d;
  const ew = (d - ((W + pl + pr) % d)) % d;
  return tf.tidy(() => {
    const s = tf.spaceToBatchND(
      x,
      [d, d],
      [
        [pt, pb + eh],
        [pl, pr + ew],
      ],
    );
    const y = tf.conv2d(s as tf.Tensor4D, w, 1, "valid");
    return tf.batchToSpaceND(
      y,
      [d, d],
      [
        [0, eh],
        [0, ew],
      ],
    ) as tf.Tensor4D;
  });
}

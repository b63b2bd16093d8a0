// dilatedConv2d (space-to-batch -> conv2d -> batch-to-space): forward equals tf.conv2d with
// dilation, and it trains (gradients vs finite differences and the cpu backend) on wasm.
import * as tf from "@tensorflow/tfjs-core";
import { strict as assert } from "node:assert";
import { dilatedConv2d } from "@adaptseg/compute";
import { gradCheck, onBackend, relErr, seeded, useWasm } from "./kernels.helpers.js";

const TOL = 1e-4;

describe("dilatedConv2d", function () {
  this.timeout(120_000);
  before(useWasm);

  for (const [d, pad, k, n, h, w] of [
    [1, "same", 3, 1, 9, 9],
    [2, "same", 3, 2, 11, 10],
    [2, "valid", 3, 1, 12, 9],
    [4, "same", 3, 1, 13, 16],
    [12, "same", 3, 1, 27, 25],
    [6, "same", 3, 1, 10, 10], // dilation wider than half the map (ASPP's 6..24 on small maps)
    [2, "same", 4, 1, 9, 10], // even kernel: TF's uneven 'same' split
    [2, 2, 3, 2, 8, 8], // numeric padding = dilation
  ] as [number, "same" | "valid" | number, number, number, number, number][]) {
    it(`forward equals tf.conv2d dilation ${d} pad ${pad} k${k} on ${n}x${h}x${w}, wasm and cpu`, async () => {
      const xs = [n, h, w, 3] as [number, number, number, number];
      const ws = [k, k, 3, 4] as [number, number, number, number];
      const x = seeded(
        xs.reduce((a, b) => a * b),
        d + 1,
      );
      const wv = seeded(
        ws.reduce((a, b) => a * b),
        d + 2,
      );
      for (const b of ["wasm", "cpu"]) {
        const [got, want] = await onBackend(b, () =>
          tf.tidy(() => {
            const xt = tf.tensor4d(x, xs);
            const wt = tf.tensor4d(wv, ws);
            const p =
              typeof pad === "number"
                ? ([
                    [0, 0],
                    [pad, pad],
                    [pad, pad],
                    [0, 0],
                  ] as tf.backend_util.ExplicitPadding)
                : pad;
            const ref = tf.conv2d(xt, wt, 1, p, "NHWC", d);
            const y = dilatedConv2d(xt, wt, d, pad);
            assert.deepEqual(y.shape, ref.shape);
            return [y.dataSync(), ref.dataSync()];
          }),
        );
        assert.ok(relErr(got, want) < 1e-5, `${b}: rel err ${relErr(got, want)}`);
      }
    });
  }

  for (const [d, pad, k, n, hw] of [
    [2, "same", 3, 2, 11],
    [4, "same", 3, 1, 13],
    [12, "same", 3, 1, 27],
    [2, "valid", 4, 2, 12],
    [4, 4, 3, 1, 12],
  ] as [number, "same" | "valid" | number, number, number, number][]) {
    it(`dilated conv gradients (dilatedConv2d), dilation ${d} pad ${pad} k${k} batch ${n}`, async () => {
      const e = await gradCheck((x, w) => dilatedConv2d(x, w, d, pad), [n, hw, hw - 1, 2], [k, k, 2, 3], d * 7 + k);
      assert.ok(e.cpuX < TOL && e.cpuW < TOL, `wasm vs cpu: ${JSON.stringify(e)}`);
      assert.ok(e.fdX < TOL && e.fdW < TOL, `wasm vs finite differences: ${JSON.stringify(e)}`);
    });
  }

  it("rejects stride with dilation, naming both", () => {
    tf.tidy(() => assert.throws(() => dilatedConv2d(tf.zeros([1, 8, 8, 1]), tf.zeros([3, 3, 1, 1]), 2, "same", 2), /stride 2 with dilation 2/));
  });

  it("leaves no tensors behind", () => {
    const x = tf.zeros([1, 9, 9, 2]) as tf.Tensor4D;
    const w = tf.zeros([3, 3, 2, 2]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    tf.dispose(dilatedConv2d(x, w, 4));
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([x, w]);
  });
});

// A small conv net trains on the wasm backend: loss falls over 20 optimiser steps and no tensor
// leaks between steps.
import * as tf from "@tensorflow/tfjs-core";
import { strict as assert } from "node:assert";
import { seeded, useWasm } from "./kernels.helpers.js";

describe("training on wasm", function () {
  this.timeout(120_000);
  before(useWasm);

  for (const [name, make] of [
    ["Adam", () => tf.train.adam(1e-2, 0.9, 0.99)],
    ["SGD momentum", () => tf.train.momentum(0.3, 0.9)],
  ] as [string, () => tf.Optimizer][]) {
    it(`a 3-layer conv net's loss falls over 20 ${name} steps, tensor count flat`, () => {
      assert.equal(tf.getBackend(), "wasm");
      const C = 4;
      const shapes: [number, number, number, number][] = [
        [3, 3, 3, 8],
        [4, 4, 8, 8],
        [3, 3, 8, C],
      ];
      const vars = shapes.map((s, i) =>
        tf.variable(
          tf.tensor4d(
            seeded(
              s.reduce((a, b) => a * b),
              40 + i,
              0.3,
            ),
            s,
          ),
        ),
      );
      const x = tf.tensor4d(seeded(2 * 16 * 16 * 3, 1, 1), [2, 16, 16, 3]);
      const labels = tf.tensor3d(
        Int32Array.from(seeded(2 * 16 * 16, 2, 1), (v) => (v > 0.85 ? 255 : Math.floor((v + 1) * 2) % C)),
        [2, 16, 16],
        "int32",
      );
      const loss = () => {
        let h = tf.relu(tf.conv2d(x, vars[0] as tf.Tensor4D, 1, "same"));
        h = tf.leakyRelu(
          tf.conv2d(h, vars[1] as tf.Tensor4D, 2, [
            [0, 0],
            [1, 1],
            [1, 1],
            [0, 0],
          ]),
          0.2,
        );
        const logits = tf.image.resizeBilinear(tf.conv2d(h, vars[2] as tf.Tensor4D, 1, "same"), [16, 16]);
        const valid = tf.notEqual(labels, 255);
        const onehot = tf.oneHot(tf.where(valid, labels, tf.zerosLike(labels)), C);
        const nll = tf.neg(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), -1));
        const mask = tf.cast(valid, "float32");
        return tf.div(tf.sum(tf.mul(nll, mask)), tf.sum(mask)) as tf.Scalar;
      };
      const opt = make();
      const losses: number[] = [];
      const counts: number[] = [];
      for (let step = 0; step < 20; step++) {
        const l = opt.minimize(loss, true, vars) as tf.Scalar;
        losses.push(l.dataSync()[0]);
        l.dispose();
        counts.push(tf.memory().numTensors);
      }
      for (let i = 2; i < 20; i++) assert.equal(counts[i], counts[1], `tensor count per step: ${counts.join(",")}`);
      assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
      assert.ok(losses[19] < 0.8 * losses[0], `loss did not fall: ${losses.map((v) => v.toFixed(3)).join(" ")}`);
      opt.dispose();
      tf.dispose([...vars, x, labels]);
    });
  }
});

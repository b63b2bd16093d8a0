// wasm training kernels (onnxruntime kernels off: see ort-kernels.test.ts): conv2d gradients vs finite differences and the cpu backend, the other
// kernels a training step uses (wasm vs cpu), and registration.
import * as tf from "@tensorflow/tfjs-core";
import { strict as assert } from "node:assert";
import { registerWasmTrainingKernels, dilatedConv2d } from "@adaptseg/compute";
import { CONV_CASES, gradCheck, onBackend, relErr, seeded, useWasmOnly, type Shape4 } from "./kernels.helpers.js";

const TOL = 1e-4;

describe("wasm training kernels", function () {
  this.timeout(120_000);
  before(useWasmOnly);

  it("registers Conv2DBackpropFilter (absent from tfjs-backend-wasm 4.22), idempotently", () => {
    const filt = tf.getKernel("Conv2DBackpropFilter", "wasm");
    const input = tf.getKernel("Conv2DBackpropInput", "wasm");
    assert.ok(filt, "no Conv2DBackpropFilter on wasm");
    registerWasmTrainingKernels();
    registerWasmTrainingKernels();
    assert.equal(tf.getKernel("Conv2DBackpropFilter", "wasm")?.kernelFunc, filt.kernelFunc);
    assert.equal(tf.getKernel("Conv2DBackpropInput", "wasm")?.kernelFunc, input?.kernelFunc);
    assert.ok(tf.getGradient("Conv2D"), "gradient functions are not registered");
  });

  for (const c of CONV_CASES) {
    it(`conv2d gradients, batch ${c.n} ${c.h}x${c.w}x${c.ci}->${c.co} k${c.k} s${c.s} pad ${c.pad}`, async () => {
      const pad =
        typeof c.pad === "number"
          ? ([
              [0, 0],
              [c.pad, c.pad],
              [c.pad, c.pad],
              [0, 0],
            ] as tf.backend_util.ExplicitPadding)
          : c.pad;
      const e = await gradCheck((x, w) => tf.conv2d(x, w, c.s, pad), [c.n, c.h, c.w, c.ci], [c.k, c.k, c.ci, c.co], c.h * 31 + c.k);
      assert.ok(e.cpuX < TOL && e.cpuW < TOL, `wasm vs cpu: ${JSON.stringify(e)}`);
      assert.ok(e.fdX < TOL && e.fdW < TOL, `wasm vs finite differences: ${JSON.stringify(e)}`);
    });
  }

  it("Conv2DBackpropInput falls back to the shipped kernel where padding exceeds the kernel", async () => {
    // explicit padding 3 with a 2x2 kernel: the rotated-filter formulation would need negative padding
    const pad = [
      [0, 0],
      [3, 3],
      [3, 3],
      [0, 0],
    ] as tf.backend_util.ExplicitPadding;
    const e = await gradCheck((x, w) => tf.conv2d(x, w, 1, pad), [1, 5, 5, 2], [2, 2, 2, 3], 5);
    assert.ok(e.cpuX < TOL && e.cpuW < TOL && e.fdX < TOL && e.fdW < TOL, JSON.stringify(e));
  });

  // Every op of a training step of our networks (segmentation net + discriminator + losses),
  // differentiated on wasm and on cpu.
  it("a step through every training op has the same loss and gradients on wasm and cpu", async () => {
    const C = 5;
    const shapes: Record<string, Shape4> = {
      w1: [3, 3, 3, 6], // conv s1 same
      w2: [4, 4, 6, 6], // conv k4 s2 pad 1 (discriminator)
      w3: [3, 3, 6, 6], // dilated conv (space-to-batch)
      w4: [3, 3, 6, C], // conv valid
      d1: [4, 4, C, 4], // discriminator conv k4 s2 same
      d2: [3, 3, 4, 1],
    };
    const params = Object.fromEntries(
      Object.entries(shapes).map(([k, s], i) => [
        k,
        seeded(
          s.reduce((a, b) => a * b),
          100 + i,
          0.4,
        ),
      ]),
    );
    const img = seeded(2 * 18 * 18 * 3, 7, 1);
    const labels = Int32Array.from(seeded(2 * 18 * 18, 8, 1), (v) => (v > 0.8 ? 255 : Math.floor((v + 1) * 2.99) % C));
    const stepOn = (backend: string) =>
      onBackend(backend, () =>
        tf.tidy(() => {
          const vars = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, tf.tensor4d(v, shapes[k])])) as Record<string, tf.Tensor4D>;
          const loss = (p: Record<string, tf.Tensor4D>) => {
            const x = tf.tensor4d(img, [2, 18, 18, 3]);
            let h = tf.relu(tf.conv2d(x, p.w1, 1, "same"));
            h = tf.leakyRelu(
              tf.conv2d(h, p.w2, 2, [
                [0, 0],
                [1, 1],
                [1, 1],
                [0, 0],
              ]),
              0.2,
            ); // 9x9
            h = tf.maxPool(h, 2, 2, "same"); // 5x5 (ceil-mode-like)
            h = tf.relu(dilatedConv2d(h, p.w3, 2, "same"));
            const logits = tf.image.resizeBilinear(tf.conv2d(h, p.w4, 1, "valid"), [18, 18], true); // 3x3 -> 18x18
            // cross-entropy with ignore label 255
            const lab = tf.tensor3d(labels, [2, 18, 18], "int32");
            const valid = tf.notEqual(lab, 255);
            const onehot = tf.oneHot(tf.where(valid, lab, tf.zerosLike(lab)), C);
            const nll = tf.neg(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), -1));
            const mask = tf.cast(valid, "float32");
            const ce = tf.div(tf.sum(tf.mul(nll, mask)), tf.maximum(tf.sum(mask), 1));
            // discriminator on the softmax: BCE with logits (vanilla GAN) and MSE (LS-GAN)
            const dOut = tf.conv2d(tf.leakyRelu(tf.conv2d(tf.softmax(logits), p.d1, 2, "same"), 0.2), p.d2, 1, "same");
            const bce = tf.losses.sigmoidCrossEntropy(tf.onesLike(dOut), dOut);
            const mse = tf.losses.meanSquaredError(tf.zerosLike(dOut), tf.sigmoid(dOut));
            return tf.addN([ce, tf.mul(bce, 0.3), tf.mul(mse, 0.2)]) as tf.Scalar;
          };
          const names = Object.keys(vars);
          const { value, grads } = tf.valueAndGrads((...ts: tf.Tensor[]) => loss(Object.fromEntries(names.map((n, i) => [n, ts[i] as tf.Tensor4D]))))(names.map((n) => vars[n]));
          return { loss: value.dataSync()[0], grads: grads.map((g) => g.dataSync() as Float32Array) };
        }),
      );
    const a = await stepOn("wasm");
    const b = await stepOn("cpu");
    assert.ok(Number.isFinite(a.loss) && a.loss > 0, `loss ${a.loss}`);
    assert.ok(Math.abs(a.loss - b.loss) / b.loss < TOL, `loss wasm ${a.loss} cpu ${b.loss}`);
    a.grads.forEach((g, i) => {
      const e = relErr(g, b.grads[i]);
      assert.ok(e < TOL, `gradient ${Object.keys(shapes)[i]}: rel err ${e}`);
    });
  });

  for (const [name, make] of [
    ["Adam (betas 0.9, 0.99)", () => tf.train.adam(1e-2, 0.9, 0.99)],
    ["SGD momentum 0.9", () => tf.train.momentum(1e-2, 0.9)],
  ] as [string, () => tf.Optimizer][]) {
    it(`${name} updates match between wasm and cpu`, async () => {
      const run = (backend: string) =>
        onBackend(backend, () => {
          const w = tf.variable(tf.tensor4d(seeded(3 * 3 * 2 * 2, 3), [3, 3, 2, 2]));
          const x = tf.tensor4d(seeded(1 * 6 * 6 * 2, 4, 1), [1, 6, 6, 2]);
          const opt = make();
          for (let i = 0; i < 3; i++) opt.minimize(() => tf.mean(tf.square(tf.sub(tf.conv2d(x, w, 1, "same"), 0.3))) as tf.Scalar, false, [w]);
          const out = w.dataSync().slice();
          opt.dispose();
          tf.dispose([w, x]);
          return out;
        });
      const a = await run("wasm");
      const b = await run("cpu");
      const e = relErr(a, b);
      assert.ok(e < TOL, `rel err ${e}`);
      assert.ok(relErr(a, seeded(3 * 3 * 2 * 2, 3)) > 1e-3, "weights did not move");
    });
  }
});

describe("wasm MaxPoolGrad replacement", () => {
  before(useWasmOnly);
  // tfjs-backend-wasm 4.22's own MaxPoolGrad drops windows (batch > 1, 'same' padding).
  for (const [shape, f, s, pad] of [
    [[2, 6, 6, 3], 2, 2, "valid"],
    [[1, 5, 7, 2], 2, 2, "same"],
    [[2, 7, 7, 2], 3, 2, "same"],
    [[1, 6, 6, 2], 3, 1, "same"],
    [[1, 7, 5, 2], 3, 2, "valid"],
  ] as [number[], number, number, "same" | "valid"][]) {
    it(`maxPool ${f}x${f} stride ${s} ${pad} on ${shape.join("x")}: wasm gradient equals cpu's, ties to the first max`, async () => {
      const x = seeded(
        shape.reduce((a, b) => a * b),
        f * 10 + s,
      ).map((v) => Math.max(v, 0)); // ReLU zeros give ties
      const g = (b: string) =>
        onBackend(b, () =>
          tf.tidy(() => {
            const t = tf.tensor4d(x, shape as [number, number, number, number]);
            const y = tf.maxPool(t, f, s, pad);
            const r = tf.tensor(seeded(y.size, 9, 1), y.shape);
            return tf
              .grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, f, s, pad), r)))(t)
              .dataSync();
          }),
        );
      const a = await g("wasm");
      const b = await g("cpu");
      assert.ok(relErr(a, b) < 1e-6, `rel err ${relErr(a, b)}`);
    });
  }
});

describe("wasm SpaceToBatchND / BatchToSpaceND heap kernels", () => {
  before(useWasmOnly);
  for (const [shape, block, pads] of [
    [
      [1, 6, 8, 3],
      [2, 2],
      [
        [0, 0],
        [0, 0],
      ],
    ],
    [
      [2, 5, 7, 4],
      [3, 3],
      [
        [3, 1],
        [3, 2],
      ],
    ],
    [
      [2, 9, 6, 2],
      [4, 2],
      [
        [4, 3],
        [2, 0],
      ],
    ],
    [
      [1, 4, 4, 5],
      [6, 6],
      [
        [6, 2],
        [6, 2],
      ],
    ], // padding larger than the map (ASPP d=6 on a small map)
  ] as [Shape4, [number, number], [number, number][]][]) {
    it(`spaceToBatchND ${shape.join("x")} block ${block} pads ${JSON.stringify(pads)} and its gradient equal cpu's`, async () => {
      const x = seeded(
        shape.reduce((a, b) => a * b),
        block[0] * 7 + shape[1],
      );
      const f = (b: string) =>
        onBackend(b, () =>
          tf.tidy(() => {
            const t = tf.tensor4d(x, shape);
            const y = tf.spaceToBatchND(t, block, pads);
            const r = tf.tensor(seeded(y.size, 3, 1), y.shape);
            // the gradient of spaceToBatchND is batchToSpaceND with the paddings as crops
            const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.spaceToBatchND(a, block, pads), r)))(t);
            return [y.dataSync(), g.dataSync(), tf.batchToSpaceND(y, block, pads).dataSync()];
          }),
        );
      const [a, b] = [await f("wasm"), await f("cpu")];
      for (let i = 0; i < 3; i++) assert.equal(relErr(a[i]!, b[i]!), 0, `output ${i}`);
      assert.equal(relErr(a[2]!, x), 0, "batchToSpace(spaceToBatch(x)) != x");
    });
  }
});
